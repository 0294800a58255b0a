"""LSS lifting shared by the camera models (``bevdet_occ``, ``flashocc``, ``alocc``).

Mechanisms: Lift-Splat-Shoot (Philion & Fidler, ECCV 2020) view transformer as in BEVDet (Huang et al.,
2021); BEVPoolv2-style precomputed-index pooling; BEVDepth-style LiDAR depth supervision.

Frames: points are in the keyframe's ego frame (``occplan.types.SensorFrame``); ``img_from_ego`` (N, 3, 4) per
camera = intrinsics scaled to the network's image size @ cam_from_ego[:3] (``camera_model.img_from_ego``,
as ``models.occnet.model.encode_cameras``); depth = camera-frame z. Pixel convention: ``geometry``.

API
- ``geometry.DepthBins(min_m, max_m, step_m)``: ``num`` bins, ``centers_m()``.
- ``geometry.frustum_ego(img_from_ego (N,3,4), (Hf, Wf), stride, bins)`` -> (N, D, Hf, Wf, 3) ego points.
- ``pool.PoolGrid(range_min_m, range_max_m, shape)``: (X, Y, Z) voxels or (X, Y) BEV; ``cell_index``.
- ``pool.build_pool_index(img_from_ego, (Hf, Wf), stride, bins, grid)`` -> ``PoolIndex(point, pixel, cell)``;
  ``pool.PoolIndexCache(stride, bins, grid)(img_from_ego, (Hf, Wf))`` caches it per calibration;
  ``pool.lss_pool(depth_probs, context, index, num_cells)`` -> (num_cells, C) scatter-sum.
- ``view_transformer.LSSViewTransformer(in_channels, context_channels, bins, grid, stride)``:
  features (B, N, C_in, Hf, Wf), img_from_ego (B, N, 3, 4) -> volume (B, C, *grid.shape), depth logits
  (B, N, D, Hf, Wf).
- ``image_encoder.ImageEncoder(widths, blocks, out_channels)``: ResNet + FPN-LSS neck, stride
  2**(len(widths) - 1).
- ``depth.depth_targets(points_ego (P,3), img_from_ego (N,3,4), (Hf, Wf), stride, bins)`` -> (N, Hf, Wf)
  int64 bin of the nearest LiDAR point per feature cell, ``NO_DEPTH`` (-1) elsewhere; ``depth.depth_loss``.
- ``camera_model.LssOccModel``: TorchOccModel base (encode, LiDAR ``training_request``, targets with
  ``depth``, loss, decode) for models whose net returns ``sem_logits``, ``flow`` and ``depth_logits``.
"""
