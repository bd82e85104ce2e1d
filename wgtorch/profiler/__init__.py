"""wgtorch.profiler: PyTorch's profiler API (profile, record_function, ProfilerActivity) on the
op interception of wgtorch/_intercept.py: ops are timed only inside a profile block."""
from ._profiler import (EventList, FunctionEvent, ProfilerActivity, profile, record_function, schedule,
                        tensorboard_trace_handler)

__all__ = ["EventList", "FunctionEvent", "ProfilerActivity", "profile", "record_function", "schedule",
           "tensorboard_trace_handler"]
