"""Writer of nuScenes-format dataroots from generated worlds (tables, sensor files, lidarseg, map, Occ3D GT)."""

from scenarios.writer.calibration import SensorCalibration
from scenarios.writer.scene import SceneStats, WriterConfig, write_scene
from scenarios.writer.schema import VERSION
from scenarios.writer.tables import SceneTables, write_tables

__all__ = ["VERSION", "SceneStats", "SceneTables", "SensorCalibration", "WriterConfig", "write_scene", "write_tables"]
