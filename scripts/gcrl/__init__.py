"""gcrl: the versioned helpers behind the executable course.

Importing the package is cheap on purpose: it does not import MuJoCo, torch or
Gymnasium, so that a chapter can choose the rendering backend (``MUJOCO_GL``)
before MuJoCo is loaded.
"""

__version__ = "0.1.0"
