# The top-level shaders/ folder is shipped inside the package as wgtorch/shaders
# (see wgtorch/shaders_path.py for how it is found at run time); wgtorch/_native's C source
# goes along too (compiled at first use, see wgtorch/_native/__init__.py).
from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["wgtorch", "wgtorch.*"]) + ["wgtorch.shaders"],
    package_dir={"wgtorch.shaders": "shaders"},
    package_data={"wgtorch.shaders": ["*.wgsl"], "wgtorch._native": ["*.c"]},
)
