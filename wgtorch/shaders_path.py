"""Finding the WGSL sources: inside the installed package (wheel) or the
repository's top-level shaders/ (source checkout, editable install)."""
import functools
import os

_here = os.path.dirname(os.path.abspath(__file__))


def shader_dir():
    for d in (os.path.join(_here, "shaders"), os.path.join(os.path.dirname(_here), "shaders")):
        if os.path.isfile(os.path.join(d, "fill.wgsl")):
            return d
    raise FileNotFoundError("wgtorch's shaders/ folder was not found next to the package")


@functools.lru_cache(maxsize=None)  # (the files do not change while a program runs)
def read_shader(name):
    with open(os.path.join(shader_dir(), name), encoding="utf-8") as f:
        return f.read()
