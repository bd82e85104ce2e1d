"""DataLoader worker processes: the loop each worker runs, get_worker_info(), the
guard that keeps workers off the GPU, and the wire format of results.

Results travel over one pipe per worker: a small pickle whose NumPy buffers go
out of band (pickle protocol 5) and are received straight into fresh arrays that
the batch's tensors then wrap, so a batch is copied once each way and never
turned into Python lists."""
import gc
import io
import os
import pickle
import queue
import random
import struct
import sys
import traceback

import numpy as np

from ... import dtypes
from ...ops.creation import from_numpy
from ...random import manual_seed
from ...tensor import Tensor
from ._fetch import make_fetcher

# How often an idle worker checks the done event and that its main process lives: the
# stop message can be lost when the loader is garbage-collected (its queues' feeder
# threads are finalised first), and then the event is what stops the worker.
POLL_S = 0.25

NO_GPU = ("DataLoader worker processes never use the GPU (a forked worker must not touch its parent's device, "
          "and workers create no device of their own): return cpu tensors from the dataset and move each "
          "batch with .to(device) in the main process")

_worker_info = None


class WorkerInfo:
    """What get_worker_info() returns inside a worker: id, num_workers, seed, dataset."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)

    def __setattr__(self, key, val):
        raise RuntimeError(f"Cannot assign attributes to {type(self).__name__} objects")

    def __repr__(self):
        return f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed}, dataset=...)"


def get_worker_info():
    """The WorkerInfo of this worker process, or None in the main process."""
    return _worker_info


# ---- markers and errors sent from the workers ---------------------------------------------
class IterationEnd:
    """This worker's IterableDataset is exhausted."""


class Resume:
    """Persistent workers: a new epoch begins (echoed back once older results are sent)."""


class KeyErrorMessage(str):
    def __repr__(self):  # KeyError shows repr(message): keep the traceback readable
        return self


class ExceptionWrapper:
    """An exception raised in a worker, re-raised in the main process with its traceback text."""

    def __init__(self, where):
        etype, exc, tb = sys.exc_info()
        try:
            pickle.loads(pickle.dumps(etype))
        except Exception:  # a class the main process cannot import
            etype = RuntimeError
        self.exc_type, self.where = etype, where
        self.text = "".join(traceback.format_exception(type(exc), exc, tb))

    def reraise(self):
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.text}"
        if self.exc_type is KeyError:
            msg = KeyErrorMessage(msg)
        try:
            exc = self.exc_type(msg)
        except Exception:  # the type needs other constructor arguments
            raise RuntimeError(msg) from None
        raise exc


# ---- the wire format ----------------------------------------------------------------------
class _Pickler(pickle.Pickler):
    def reducer_override(self, obj):
        if isinstance(obj, Tensor):
            bf = obj.dtype is dtypes.bfloat16
            a = (obj.detach().float() if bf else obj.detach()).numpy()
            return _rebuild_tensor, (a if a.flags.c_contiguous else a.copy(), bf, obj.requires_grad)
        return NotImplemented


def _rebuild_tensor(a, bf, requires_grad):
    t = from_numpy(a)
    if bf:
        t = t.to(dtypes.bfloat16)
    return t.requires_grad_() if requires_grad else t


def encode(obj):
    """obj as a header (buffer sizes + pickle) and its raw buffers."""
    bufs, f = [], io.BytesIO()
    _Pickler(f, protocol=5, buffer_callback=bufs.append).dump(obj)
    raws = [b.raw() for b in bufs]
    return struct.pack(f"<{len(raws) + 1}Q", len(raws), *(r.nbytes for r in raws)) + f.getvalue(), raws


def send(conn, encoded):
    head, raws = encoded
    conn.send_bytes(head)
    for r in raws:
        conn.send_bytes(r)


def recv(conn):
    head = conn.recv_bytes()
    (n,) = struct.unpack_from("<Q", head)
    bufs = []
    for size in struct.unpack_from(f"<{n}Q", head, 8):
        b = np.empty(size, np.uint8)  # writable, so the batch's tensors are too
        conn.recv_bytes_into(b)
        bufs.append(b)
    return pickle.loads(memoryview(head)[8 * (n + 1):], buffers=bufs)


# ---- keeping workers off the GPU ------------------------------------------------------------
class _GPUForbidden:
    """Stands in for the wgpu backend in a worker: any use raises (tensor.device still answers)."""

    def __getattribute__(self, name):
        if name in ("device", "__class__", "__dict__"):
            return object.__getattribute__(self, name)
        raise RuntimeError(NO_GPU)


def _forbid_gpu():
    from ...backends import _by_device
    from ...backends.wgpu import _backends, context
    from ...device import device

    def refuse(*args, **kwargs):
        raise RuntimeError(NO_GPU)
    context.adapter = lambda: None  # wgtorch.wgpu / cuda.is_available() answer False in a worker
    context.device = context._wgpu = refuse
    for b in _backends.values():  # backends a forked worker inherited, with their device
        b.__class__ = _GPUForbidden
    stand_in = object.__new__(_GPUForbidden)
    stand_in.device = device("wgpu", 0)
    _by_device.setdefault(device("wgpu", 0), stand_in)


# ---- the worker loop ------------------------------------------------------------------------
def worker_loop(payload, index_queue, conn, done, base_seed, worker_id, num_workers, parent_pid):
    """Fetch the batches whose indices arrive on index_queue and send them on conn, in order."""
    global _worker_info
    gc.freeze()  # a forked worker must never collect (and finalise) objects of its parent
    _forbid_gpu()
    where = f"in DataLoader worker process {worker_id}"
    init_error, fetcher = None, None
    try:
        if isinstance(payload, bytes):  # spawn: unpickled here, after the GPU guard
            payload = pickle.loads(payload)
        iterable, dataset, auto_collation, collate_fn, drop_last, init_fn = payload
        seed = base_seed + worker_id  # torch's seeding of random, torch and numpy in workers
        random.seed(seed)
        manual_seed(seed)
        np.random.seed(np.random.SeedSequence([worker_id, base_seed & 0xFFFFFFFF, base_seed >> 32, 0])
                       .generate_state(4))
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)
        if init_fn is not None:
            init_fn(worker_id)
        fetcher = make_fetcher(iterable, dataset, auto_collation, collate_fn, drop_last)
    except Exception:
        init_error = ExceptionWrapper(where)
    ended = False
    try:
        while True:
            try:
                task = index_queue.get(timeout=POLL_S)
            except queue.Empty:
                if done.is_set() or os.getppid() != parent_pid:  # stopped, or the main process died
                    return
                continue
            if task is None:
                return
            if isinstance(task, Resume):
                if init_error is None:
                    fetcher = make_fetcher(iterable, dataset, auto_collation, collate_fn, drop_last)
                ended = False
                send(conn, encode((None, task)))
                continue
            if ended or done.is_set():  # nothing more to send for this epoch / shutting down
                continue
            idx, index = task
            if init_error is not None:
                data = init_error
            else:
                try:
                    data = fetcher.fetch(index)
                except StopIteration:
                    data, ended = IterationEnd(), True
                except Exception:
                    data = ExceptionWrapper(where)
            try:
                msg = encode((idx, data))
            except Exception:  # a batch that cannot be pickled
                msg = encode((idx, ExceptionWrapper(where)))
            send(conn, msg)
    except (KeyboardInterrupt, BrokenPipeError, EOFError, ConnectionError):
        pass  # the main process stopped listening: just exit
    finally:
        conn.close()
