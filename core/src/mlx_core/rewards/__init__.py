"""Reward signals: the base class and core's ``extrinsic`` signal."""
