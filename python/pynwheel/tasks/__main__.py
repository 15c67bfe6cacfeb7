"""`python -m pynwheel.tasks SPEC.json`: the job driver (pynwheel/tasks/driver.py), in the job's process."""

import sys

from pynwheel.tasks.driver import main

sys.exit(main())
