"""The rules of the road, written once: ego footprint and box overlap, the voxel-obstacle band above
local ground and the ground classes, the off-road test, comfort (nuPlan's ``ego_is_comfortable``) and
IDM. The simulator, the metrics, the planners and the env reward import them from here."""
