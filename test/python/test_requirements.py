"""The PEP 440 matcher of cluster jobs' packages (python/pynwheel/requirements.py): versions'
order, each operator, wildcards, pre/post/dev/local parts, bad strings, and the check a worker
runs (what this interpreter lacks)."""

import json
import subprocess
import sys
import unittest
from pathlib import Path

from pynwheel.requirements import InvalidRequirement, Requirement, lacking, parse_version

# In ascending order (PEP 440's examples, and the places dev/pre/post/local sort).
ORDERED = ["1.0.dev456", "1.0a1", "1.0a2.dev456", "1.0a12.dev456", "1.0a12", "1.0b1.dev456", "1.0b2",
           "1.0b2.post345.dev456", "1.0b2.post345", "1.0rc1.dev456", "1.0rc1", "1.0", "1.0+abc.5", "1.0+abc.7",
           "1.0+5", "1.0.post456.dev34", "1.0.post456", "1.0.15", "1.1.dev1", "1!0.5"]

# (requirement, version, satisfied)
MATCHES = [
    ("numpy", "1.26.4", True),
    ("numpy>=1.20", "1.26.4", True),
    ("numpy>=1.20", "1.19.5", False),
    ("numpy>=1.20,<2", "2.0.0", False),
    ("numpy>=1.20,<2", "1.99", True),
    ("numpy (>=1.20, <2)", "1.21", True),
    ("numpy[extra]>=1", "1.0", True),
    ("x==1.0", "1.0.0", True),
    ("x==1.0", "1.0+local.7", True),
    ("x==1.0+local.7", "1.0+local.7", True),
    ("x==1.0+local.7", "1.0", False),
    ("x==1.0", "1.0.post1", False),
    ("x!=1.0", "1.0.0", False),
    ("x!=1.0", "1.0.1", True),
    ("x==1.2.*", "1.2", True),
    ("x==1.2.*", "1.2.9", True),
    ("x==1.2.*", "1.2rc1", True),
    ("x==1.2.*", "1.2.post3", True),
    ("x==1.2.*", "1.3", False),
    ("x==1.*", "1.0.dev1", True),
    ("x!=1.2.*", "1.2.5", False),
    ("x!=1.2.*", "1.20", True),
    ("x~=2.2", "2.3", True),
    ("x~=2.2", "2.2", True),
    ("x~=2.2", "3.0", False),
    ("x~=2.2", "2.1", False),
    ("x~=1.4.5", "1.4.9", True),
    ("x~=1.4.5", "1.5.0", False),
    ("x~=1.4.5", "1.4.4", False),
    ("x>1.7", "1.7.1", True),
    ("x>1.7", "1.7.post2", False),
    ("x>1.7.post2", "1.7.post3", True),
    ("x>1.7", "1.7+local", False),
    ("x<2.0", "2.0rc1", False),
    ("x<2.0", "1.9", True),
    ("x<2.0rc2", "2.0rc1", True),
    ("x<2.0", "2.0", False),
    ("x<=2.0", "2.0", True),
    ("x<=2.0", "2.0+local", True),
    ("x>=2.0", "2.0.dev1", False),
    ("x>=2.0.dev1", "2.0a1", True),
    ("x>=2.0", "2.1rc1", True),
    ("x>=1!0.1", "2.0", False),
    ("x>=1!0.1", "1!0.2", True),
    ("x===1.0-custom", "1.0-CUSTOM", True),
    ("x===1.0", "1.0.0", False),
    ("x>=1", "not-a-version", False),
    ("x", "not-a-version", True),
    ("x>=1.0", "v1.0", True),
    ("x==1.0a1", "1.0alpha1", True),
    ("x==1.0c1", "1.0rc1", True),
    ("x==1.0-1", "1.0.post1", True),
]

BAD = ["", ">=1.0", "x>=", "x>==1", "x<>1", "x>=abc", "x=>1", "x~=1", "x==1.0rc1.*", "x>=1.0+local", "x; python_version<'3'",
       "x @ https://example.org/x.whl", "x>=1,,<2"]


class VersionOrder(unittest.TestCase):
    def test_pep_440_order(self):
        versions = [parse_version(v) for v in ORDERED]
        for i, (a, b) in enumerate(zip(versions, versions[1:])):
            self.assertLess(a, b, "%s < %s" % (ORDERED[i], ORDERED[i + 1]))
        self.assertEqual(sorted(reversed(versions)), versions)

    def test_normal_forms_are_equal(self):
        for a, b in [("1.0", "1.0.0"), ("1.0a1", "1.0.alpha.1"), ("1.0.post1", "1.0-1"), ("1.0.dev0", "1.0dev"),
                     ("v2", "2"), ("1.0RC1", "1.0rc1"), ("0!1.0", "1.0")]:
            self.assertEqual(parse_version(a), parse_version(b), "%s == %s" % (a, b))


class Matching(unittest.TestCase):
    def test_vectors(self):
        for requirement, version, expected in MATCHES:
            with self.subTest(requirement=requirement, version=version):
                self.assertIs(Requirement(requirement).satisfied_by(version), expected)

    def test_bad_strings_are_refused_with_a_reason(self):
        for text in BAD:
            with self.subTest(text=text):
                with self.assertRaises(InvalidRequirement) as caught:
                    Requirement(text)
                self.assertTrue(str(caught.exception))

    def test_names_compare_as_pep_503_says(self):
        self.assertEqual(Requirement("Foo.Bar_baz>=1").key, "foo-bar-baz")


class WhatThisInterpreterLacks(unittest.TestCase):
    def test_lacking(self):
        found = lacking(["pip", "pynwheel-not-a-package-xyz", "pip>=99999", "pip>=0.1", "x>=abc"])
        self.assertEqual(set(found), {"pynwheel-not-a-package-xyz", "pip>=99999", "x>=abc"})
        self.assertEqual(found["pynwheel-not-a-package-xyz"], "pynwheel-not-a-package-xyz is not installed")
        self.assertRegex(found["pip>=99999"], r"^pip \S+ is installed$")
        self.assertTrue(found["x>=abc"].startswith("not a requirement: "))

    def test_the_workers_check_as_a_process(self):
        home = Path(__file__).resolve().parents[2] / "python"
        code = "import sys; sys.path.insert(0, sys.argv[1]); from pynwheel.requirements import main; main(sys.argv[2:])"
        out = subprocess.run([sys.executable, "-c", code, str(home), json.dumps(["pip", "nope-xyz-123"])],
                             capture_output=True, text=True, check=True).stdout
        self.assertEqual(json.loads(out), {"nope-xyz-123": "nope-xyz-123 is not installed"})


if __name__ == "__main__":
    unittest.main()
