"""Entry script of the frozen bundle: the same ``app.main:main`` as the ``featurescope`` script.

PyInstaller needs a script, not an entry point. Frozen, ``app.paths`` finds ``resources/``
beside the ``app`` package inside the bundle (``sys._MEIPASS``), where the spec puts it.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # harmless without multiprocessing; required on Windows
    from app.main import main

    sys.exit(main())
