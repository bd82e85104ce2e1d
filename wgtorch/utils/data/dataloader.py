"""DataLoader: batches of a dataset, in the main process (num_workers=0) or from
worker processes (fork or spawn) that prefetch prefetch_factor batches each.

The random draws are torch's, in torch's order: each iterator first draws a base
seed (workers are seeded base_seed + worker id), then the sampler draws its own.
Workers get batches round-robin and each returns its results in order on its own
pipe, so the main process reads batch i from the worker that has it and the
order is the same as with num_workers=0. Waiting on that pipe together with the
worker's process sentinel turns a dead worker into an error at once."""
import itertools
import multiprocessing
import os
import pickle
import signal
import time
from multiprocessing.connection import wait

from ...dtypes import int64
from ...ops.creation import empty
from . import _worker
from ._fetch import make_fetcher
from .collate import default_collate, default_convert  # noqa: F401  (torch has them here too)
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

SHUTDOWN_GRACE_S = 5.0  # how long workers may take to finish their current batch when stopped


class _InfiniteConstantSampler(Sampler):
    """The sampler of an IterableDataset: the keys are meaningless, the stream decides the end."""

    def __iter__(self):
        while True:
            yield None


class DataLoader:
    """Iterate over `dataset` in batches, as torch.utils.data.DataLoader."""

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device=""):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable "
                             "multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing.let num_workers "
                             "> 0 to enable multiprocessing, otherwise set prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if multiprocessing_context is not None:
            if num_workers == 0:
                raise ValueError("multiprocessing_context can only be used with multi-process loading "
                                 f"(num_workers > 0), but got num_workers={num_workers}")
            if isinstance(multiprocessing_context, str):
                multiprocessing_context = multiprocessing.get_context(multiprocessing_context)

        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            if shuffle not in (False, None):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, but got "
                                 f"shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler option, but got "
                                 f"sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified batch_sampler option, but "
                                 f"got batch_sampler={batch_sampler}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                                 "and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with "
                             "drop_last")
        if sampler is None:
            sampler = _InfiniteConstantSampler() if self._iterable else \
                RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.dataset = dataset
        self.batch_size, self.drop_last = batch_size, drop_last
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self.num_workers, self.prefetch_factor = num_workers, prefetch_factor
        self.collate_fn = collate_fn or (default_collate if batch_sampler is not None else default_convert)
        self.pin_memory, self.pin_memory_device = pin_memory, pin_memory_device  # accepted; nothing to pin
        self.timeout, self.worker_init_fn = timeout, worker_init_fn
        self.multiprocessing_context, self.generator = multiprocessing_context, generator
        self.persistent_workers = persistent_workers
        self._iterator = None

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __iter__(self):
        if self.num_workers == 0:
            return _SingleProcessIter(self)
        if not self.persistent_workers:
            return _MultiProcessIter(self)
        if self._iterator is None:
            self._iterator = _MultiProcessIter(self)
        else:
            self._iterator._reset(self)
        return self._iterator

    def __len__(self):
        if self._iterable:
            n = len(self.dataset)
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        return len(self._index_sampler)


class _BaseIter:
    def __init__(self, loader):
        self._index_sampler = loader._index_sampler
        self._timeout = loader.timeout
        self._sampler_iter = iter(self._index_sampler)  # then the base seed, in torch's order
        self._base_seed = empty((), dtype=int64, device="cpu").random_(generator=loader.generator).item()

    def _reset(self, loader):
        self._sampler_iter = iter(self._index_sampler)

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._index_sampler)

    def __next__(self):
        return self._next_data()


class _SingleProcessIter(_BaseIter):
    def __init__(self, loader):
        super().__init__(loader)
        self._fetcher = make_fetcher(loader._iterable, loader.dataset, loader._auto_collation, loader.collate_fn,
                                     loader.drop_last)

    def _next_data(self):
        return self._fetcher.fetch(next(self._sampler_iter))


class _MultiProcessIter(_BaseIter):
    def __init__(self, loader):
        super().__init__(loader)
        ctx = loader.multiprocessing_context or multiprocessing.get_context()
        n = self._num_workers = loader.num_workers
        self._prefetch = loader.prefetch_factor
        self._persistent = loader.persistent_workers
        payload = (loader._iterable, loader.dataset, loader._auto_collation, loader.collate_fn, loader.drop_last,
                   loader.worker_init_fn)
        if ctx.get_start_method() != "fork":  # unpickled by the worker after it has fenced off the GPU
            payload = pickle.dumps(payload)
        self._done = ctx.Event()
        self._workers, self._queues, self._conns = [], [], []
        self._shut = False
        try:
            for i in range(n):
                q = ctx.Queue()  # its feeder thread: putting indices never blocks the main process
                q.cancel_join_thread()
                r, w = ctx.Pipe(duplex=False)
                _widen_pipe(w)
                p = ctx.Process(target=_worker.worker_loop, daemon=True,
                                args=(payload, q, w, self._done, self._base_seed, i, n, os.getpid()))
                p.start()
                w.close()  # the worker holds the only write end
                self._workers.append(p)
                self._queues.append(q)
                self._conns.append(r)
        except BaseException:
            self._shutdown(force=True)
            raise
        self._reset(loader, first=True)

    def _reset(self, loader, first=False):
        super()._reset(loader)
        self._send_idx = self._rcvd_idx = 0
        self._task_worker = {}  # batch number -> the worker loading it
        self._active = [True] * self._num_workers  # False once a worker's IterableDataset ended
        self._cycle = itertools.cycle(range(self._num_workers))
        if not first:  # persistent workers: drop what the last epoch left and restart the datasets
            for q in self._queues:
                q.put(_worker.Resume())
            for w in range(self._num_workers):
                while not isinstance(self._get(w)[1], _worker.Resume):
                    pass
        for _ in range(self._prefetch * self._num_workers):
            self._put_index()

    def _put_index(self):
        try:
            index = next(self._sampler_iter)
        except StopIteration:
            return
        for _ in range(self._num_workers):
            w = next(self._cycle)
            if self._active[w]:
                break
        else:
            return
        self._queues[w].put((self._send_idx, index))
        self._task_worker[self._send_idx] = w
        self._send_idx += 1

    def _next_data(self):
        while True:
            while self._rcvd_idx < self._send_idx and not self._active[self._task_worker[self._rcvd_idx]]:
                del self._task_worker[self._rcvd_idx]  # sent to a worker whose stream has ended
                self._rcvd_idx += 1
            if self._rcvd_idx >= self._send_idx:
                if not self._persistent:
                    self._shutdown()
                raise StopIteration
            w = self._task_worker.pop(self._rcvd_idx)
            idx, data = self._get(w)
            if idx != self._rcvd_idx:
                raise RuntimeError(f"DataLoader worker {w} sent batch {idx} where batch {self._rcvd_idx} was due")
            self._rcvd_idx += 1
            if isinstance(data, _worker.IterationEnd):
                self._active[w] = False
                continue
            self._put_index()
            if isinstance(data, _worker.ExceptionWrapper):
                data.reraise()
            return data

    def _get(self, w):
        """The next result of worker w; a clear error if it times out or dies."""
        conn, proc = self._conns[w], self._workers[w]
        if not wait([conn, proc.sentinel], self._timeout or None):
            self._shutdown(force=True)
            raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")
        if conn.poll():
            try:
                return _worker.recv(conn)
            except (EOFError, OSError):  # it died while sending
                pass
        proc.join(1.0)
        code = proc.exitcode
        how = f"was killed by signal {signal.Signals(-code).name}" if code and code < 0 else \
            f"exited unexpectedly with exit code {code}"
        self._shutdown(force=True)
        raise RuntimeError(f"DataLoader worker (pid {proc.pid}) {how}. A worker can be killed by the system when "
                           "it runs out of memory (or by a signal); details may be in the output above.")

    def _shutdown(self, force=False):
        """Stop the workers: each finishes its current batch (its last output is read and
        dropped so that no write blocks), then exits; stragglers are terminated."""
        if self._shut:
            return
        self._shut = True
        self._done.set()
        for q in self._queues:
            q.put(None)
        live = {p.sentinel: p for p in self._workers if p.is_alive()}
        conns = set(self._conns)
        deadline = time.monotonic() + (0 if force else SHUTDOWN_GRACE_S)
        while live and time.monotonic() < deadline:
            for obj in wait(list(live) + list(conns), deadline - time.monotonic()):
                if obj in live:
                    del live[obj]
                    continue
                try:
                    obj.recv_bytes()
                except (EOFError, OSError):  # the worker closed its end: it is exiting
                    conns.discard(obj)
        for p in self._workers:
            if p.is_alive():
                p.terminate()
            p.join()
        for c in self._conns:
            c.close()
        for q in self._queues:
            q.close()

    def __del__(self):
        try:
            self._shutdown()
        except Exception:  # half-built, or the interpreter is exiting
            pass


def _widen_pipe(conn):
    """Let a worker's pipe hold a whole typical batch (Linux; 64 KiB otherwise)."""
    try:
        import fcntl
        fcntl.fcntl(conn.fileno(), 1031, 1 << 20)  # F_SETPIPE_SZ
    except (ImportError, OSError):
        pass

