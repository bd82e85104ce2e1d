"""wgpu fused optimizer steps: one dispatch per parameter (contiguous float32 at offset 0:
the kernel indexes every buffer from its start)."""
import struct

from .kernels import optim_source


class OptimOps:
    def _optim(self, kind_, flags, p, g, states, floats):
        flags = tuple(sorted(flags.items()))
        key = ("optim", kind_, flags)
        source = None if key in self.pipelines else optim_source(kind_, flags)
        n = p.size
        slots = [states[j] if j < len(states) and states[j] is not None else p for j in range(3)]  # (p: unused)
        handles = [p, g] + slots
        words = [n, 0, 0, 0] + list(struct.unpack(f"<{len(floats)}I", struct.pack(f"<{len(floats)}f", *floats)))
        self._run(key, [h.storage.buffer for h in handles], words + [0] * (12 - len(words)), n, source=source,
                  row_word=1, writable=(0, 2, 3, 4))

    def sgd_(self, p, g, buf, lr, momentum, dampening, weight_decay, nesterov, maximize, first):
        self._optim("sgd", {"maximize": maximize, "weight_decay": weight_decay != 0, "momentum": momentum != 0,
                            "first": first, "nesterov": nesterov}, p, g, [buf] if momentum != 0 else [],
                    [lr, momentum, dampening, weight_decay])

    def rmsprop_(self, p, g, square_avg, grad_avg, buf, lr, alpha, eps, weight_decay, momentum, maximize):
        self._optim("rmsprop", {"maximize": maximize, "weight_decay": weight_decay != 0,
                                "centered": grad_avg is not None, "momentum": momentum > 0},
                    p, g, [square_avg, grad_avg, buf], [lr, alpha, eps, weight_decay, momentum])

    def adagrad_(self, p, g, state_sum, clr, eps, weight_decay, maximize):
        self._optim("adagrad", {"maximize": maximize, "weight_decay": weight_decay != 0}, p, g, [state_sum],
                    [0.0, eps, weight_decay, clr])

    def adam_(self, p, g, m, v, vmax, lr, beta1, beta2, eps, weight_decay, decoupled, maximize, step):
        step_size = lr / (1 - beta1 ** step)
        bc2_sqrt = (1 - beta2 ** step) ** 0.5
        self._optim("adam", {"maximize": maximize, "weight_decay": weight_decay != 0, "decoupled": decoupled,
                             "amsgrad": vmax is not None}, p, g, [m, v] + ([vmax] if vmax is not None else []),
                    [lr, beta1, beta2, eps, weight_decay, step_size, bc2_sqrt])
