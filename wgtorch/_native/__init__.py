"""The cpu generator's hot loops in C, compiled at first use with the machine's C compiler.

PyTorch's float32 normals come from a vectorised kernel whose fused multiply-adds NumPy can only
emulate (several passes per fma), and NumPy's Mersenne Twister runs one word per call through its
bit generator interface: random.c does both in C, bit for bit what the NumPy code in random.py and
_normal_fill.py computes (the tests compare each path with torch, and the two with each other).

Where no C compiler is found, or WGTORCH_NATIVE=0, `library()` is None and the NumPy code runs: the
same numbers, slower. The shared object is cached per source, compiler, flags and machine in
$WGTORCH_CACHE_DIR, else $XDG_CACHE_HOME/wgtorch, else ~/.cache/wgtorch."""
import os  # (the rest is imported when the loops are first needed: `import wgtorch` stays light)

_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "random.c")
# -march=native makes fmaf one instruction (the source asks for no other fusion); a compiler that
# refuses the flag gets the portable set (fmaf then a libm call: correct, slower)
_FLAG_SETS = (["-O3", "-march=native"], ["-O3"])
_COMMON = ["-std=c99", "-shared", "-fPIC", "-ffp-contract=off", "-fno-math-errno"]

_lib = None
_tried = False


def library():
    """The compiled loops (a ctypes library), or None where they cannot be built or are turned off."""
    global _lib, _tried
    if not _tried:
        _tried = True
        if os.environ.get("WGTORCH_NATIVE", "1") != "0":
            _lib = _load()
    return _lib


def _compiler():
    import shutil
    cc = os.environ.get("CC")
    if cc and shutil.which(cc):
        return shutil.which(cc)
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _cache_dir():
    d = os.environ.get("WGTORCH_CACHE_DIR")
    if not d:
        d = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
                         "wgtorch")
    return d


def _machine():
    """What a -march=native build depends on: the OS, the architecture and the CPU's features."""
    import platform
    text = platform.platform() + platform.machine() + platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            text += next((line for line in f if line.startswith(("flags", "Features"))), "")
    except OSError:
        pass
    return text


def _load():
    import ctypes
    import hashlib
    import warnings
    cc = _compiler()
    if cc is None:
        return None
    with open(_SOURCE, "rb") as f:
        source = f.read()
    for flags in _FLAG_SETS:
        key = hashlib.sha256(source + repr((cc, flags, _COMMON, _machine())).encode()).hexdigest()[:16]
        path = os.path.join(_cache_dir(), f"random-{key}.so")
        if not os.path.exists(path) and not _build(cc, flags, path):
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        _declare(lib)
        if _agrees_with_numpy(lib):
            return lib
        warnings.warn(f"wgtorch: the compiled random-number loops ({path}) disagree with the NumPy code; "
                      "using NumPy", RuntimeWarning)
    return None


def _build(cc, flags, path):
    """Compile into a temporary file and move it into place (atomic: processes may race here)."""
    import subprocess
    import tempfile
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=os.path.dirname(path))
        os.close(fd)
    except OSError:
        return False
    try:
        r = subprocess.run([cc, *flags, *_COMMON, "-o", tmp, _SOURCE, "-lm"], capture_output=True, timeout=120)
        if r.returncode == 0:
            os.replace(tmp, path)
            return True
    except (OSError, subprocess.SubprocessError):
        pass
    if os.path.exists(tmp):
        os.remove(tmp)
    return False


def _declare(lib):
    import ctypes
    p, n = ctypes.c_void_p, ctypes.c_int64
    lib.mt_words.argtypes = lib.mt_uniform.argtypes = [p, p, p, n]
    lib.normal_blocks.argtypes = [p, n, ctypes.c_float, ctypes.c_float]
    for f in (lib.mt_words, lib.mt_uniform, lib.normal_blocks):
        f.restype = None


def _agrees_with_numpy(lib):
    """A few blocks of each loop against the NumPy code (a compiler that fused or reordered float
    operations would differ here)."""
    import numpy as np

    from .. import _normal_fill
    mine, ref = np.random.MT19937(), np.random.MT19937()
    mine._legacy_seeding(2024)
    ref._legacy_seeding(2024)
    addr = mine.ctypes.state_address  # the loops work in NumPy's own state: {uint32 key[624]; int pos}
    words = np.empty(700, np.uint32)
    lib.mt_words(addr, addr + 4 * 624, words.ctypes.data, 700)
    after = np.random.Generator(mine).integers(0, 1 << 32, size=5, dtype=np.uint32)  # NumPy goes on from there
    want = np.random.Generator(ref).integers(0, 1 << 32, size=705, dtype=np.uint32)
    u = np.empty(64, np.float32)
    lib.mt_uniform(addr, addr + 4 * 624, u.ctypes.data, 64)
    ok = np.array_equal(np.concatenate((words, after)), want)
    ok = ok and np.array_equal(u, (np.random.Generator(ref).integers(0, 1 << 32, size=64, dtype=np.uint32)
                                   & 0xFFFFFF).astype(np.float32) * np.float32(2 ** -24))
    u[:8] = (0, 2 ** -24, 0.5, 0.25, 1 - 2 ** -24, 0.7071, 0.999, 1e-3)  # the log's edges too
    for mean, std in ((0.0, 1.0), (0.5, 3.0)):
        v = u.copy()
        lib.normal_blocks(v.ctypes.data, 4, mean, std)
        ref = _normal_fill.normal_blocks(u.reshape(4, 16), np.float32(mean), np.float32(std)).reshape(-1)
        ok = ok and np.array_equal(v.view(np.uint32), ref.view(np.uint32))
    return ok
