# The top-level shaders/ folder is shipped inside the package as wgtorch/shaders
# (see wgtorch/shaders_path.py for how it is found at run time).
from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["wgtorch", "wgtorch.*"]) + ["wgtorch.shaders"],
    package_dir={"wgtorch.shaders": "shaders"},
    package_data={"wgtorch.shaders": ["*.wgsl"]},
)
