"""pynwheel.progress(): a line of JSON appended to $PYNWHEEL_PROGRESS_FILE, nothing without it."""

import json
import os
import tempfile
import unittest
from unittest import mock

import pynwheel


class ProgressTest(unittest.TestCase):
    def test_nothing_outside_a_listened_to_job(self):
        with mock.patch.dict(os.environ, {}, clear=False):
            os.environ.pop("PYNWHEEL_PROGRESS_FILE", None)
            self.assertIs(pynwheel.progress({"a": 1}), False)

    def test_lines_of_json_appended(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "progress")
            open(path, "w").close()
            with mock.patch.dict(os.environ, {"PYNWHEEL_PROGRESS_FILE": path}):
                self.assertIs(pynwheel.progress({"step": 1}), True)
                self.assertIs(pynwheel.progress("two"), True)
                with self.assertRaisesRegex(ValueError, "over the limit"):
                    pynwheel.progress("x" * 70000)
            with open(path, encoding="utf-8") as f:
                self.assertEqual([json.loads(line) for line in f], [{"step": 1}, "two"])


if __name__ == "__main__":
    unittest.main()
