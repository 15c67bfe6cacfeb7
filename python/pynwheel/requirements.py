"""Package requirements of a cluster job (`packages=["numpy>=1.20", "pandas"]`): PEP 508 names
with PEP 440 version specifiers, matched against what an interpreter has installed. Runs in two
processes: the submitting program (pynwheel.futures.Executor(cluster=...) checks the strings at
once, so a typo fails there), and a cluster worker, whose own python runs main() (see
lib/cluster/package-check.ts) before the worker runs a job that names packages. Standard library
only; it is the one implementation of the matcher (Node only passes the strings along).

Supported: a name, optional [extras] (ignored: an installed distribution is checked, not its
extras), and comma-separated clauses ==, !=, >=, <=, >, <, ~=, === (arbitrary equality), with
==X.* and !=X.* prefix matches; versions with epochs and pre, post, dev and local parts.
Environment markers (`; python_version < "3.9"`) and URLs (`name @ url`) are refused. An installed
pre-release satisfies a clause its version matches (as pip judges installed distributions).
"""

import re

__all__ = ["Requirement", "InvalidRequirement", "parse_version", "lacking"]


class InvalidRequirement(ValueError):
    """A requirement string this module cannot read (the message says why)."""


_VERSION = re.compile(r"""
    v?
    (?:(?P<epoch>[0-9]+)!)?
    (?P<release>[0-9]+(?:\.[0-9]+)*)
    (?P<pre>[-_.]?(?P<pre_l>alpha|a|beta|b|preview|pre|c|rc)[-_.]?(?P<pre_n>[0-9]+)?)?
    (?P<post>(?:-(?P<post_n1>[0-9]+))|(?:[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>[0-9]+)?))?
    (?P<dev>[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>[0-9]+)?)?
    (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?
""", re.VERBOSE | re.IGNORECASE)

_PRE_NAMES = {"alpha": "a", "a": "a", "beta": "b", "b": "b", "c": "rc", "pre": "rc", "preview": "rc", "rc": "rc"}
_PRE_ORDER = {"a": 0, "b": 1, "rc": 2}
# Sort sentinels of the comparison key's pre-release part: below and above every pre-release.
_LOW, _HIGH = (-1, 0), (3, 0)


class Version:
    """A PEP 440 version: ordered, hashable, with its parts as attributes."""

    __slots__ = ("text", "epoch", "release", "pre", "post", "dev", "local", "key")

    def __init__(self, text):
        match = _VERSION.fullmatch(text.strip())
        if match is None:
            raise InvalidRequirement("%r is not a PEP 440 version" % (text,))
        self.text = text.strip()
        self.epoch = int(match.group("epoch") or 0)
        self.release = tuple(int(part) for part in match.group("release").split("."))
        self.pre = (_PRE_NAMES[match.group("pre_l").lower()], int(match.group("pre_n") or 0)) if match.group("pre") else None
        post = match.group("post_n1") or match.group("post_n2")
        self.post = int(post or 0) if match.group("post") else None
        self.dev = int(match.group("dev_n") or 0) if match.group("dev") else None
        local = match.group("local")
        self.local = tuple(int(p) if p.isdigit() else p.lower() for p in re.split(r"[-_.]", local)) if local else None
        release = self.release
        while len(release) > 1 and release[-1] == 0:
            release = release[:-1]  # 1.0 == 1.0.0
        # A dev release of a final version sorts before its pre-releases (1.0.dev0 < 1.0a1).
        pre = _LOW if self.pre is None and self.post is None and self.dev is not None else (_HIGH if self.pre is None else (_PRE_ORDER[self.pre[0]], self.pre[1]))
        post_key = -1 if self.post is None else self.post
        dev_key = (1 << 62) if self.dev is None else self.dev
        local_key = () if self.local is None else tuple((p, "") if isinstance(p, int) else (-1, p) for p in self.local)
        self.key = (self.epoch, release, pre, post_key, dev_key, self.local is not None, local_key)

    @property
    def public(self):
        """This version without its local part."""
        return Version(self.text.split("+", 1)[0])

    @property
    def is_prerelease(self):
        return self.pre is not None or self.dev is not None

    def __eq__(self, other):
        return isinstance(other, Version) and self.key == other.key

    def __lt__(self, other):
        return self.key < other.key

    def __le__(self, other):
        return self.key <= other.key

    def __gt__(self, other):
        return self.key > other.key

    def __ge__(self, other):
        return self.key >= other.key

    def __hash__(self):
        return hash(self.key)

    def __repr__(self):
        return "Version(%r)" % self.text


def parse_version(text):
    return Version(text)


_CLAUSE = re.compile(r"\s*(===|==|!=|~=|<=|>=|<|>)\s*([^\s,;<>=!~][^\s,;]*)\s*")


class Clause:
    """One comparison of a specifier: an operator and its version (or prefix, for ==X.* and !=X.*)."""

    def __init__(self, op, text):
        self.op, self.text = op, text
        self.prefix = op in ("==", "!=") and text.endswith(".*")
        if op == "===":
            self.version = None
            return
        body = text[:-2] if self.prefix else text
        self.version = Version(body)
        if self.prefix and (self.version.pre or self.version.post is not None or self.version.dev is not None or self.version.local):
            raise InvalidRequirement("%s%s: a .* prefix follows release numbers only" % (op, text))
        if self.version.local and op not in ("==", "!="):
            raise InvalidRequirement("%s%s: only == and != take a local version (+...)" % (op, text))
        if op == "~=" and len(self.version.release) < 2:
            raise InvalidRequirement("~=%s: a compatible-release clause needs at least two release numbers (~=1.4, not ~=1)" % text)

    def matches(self, candidate):
        op, spec = self.op, self.version
        if op == "===":
            return candidate.text.lower() == self.text.lower()
        if op in ("==", "!="):
            if self.prefix:
                width = len(spec.release)
                release = (candidate.release + (0,) * width)[:width]
                equal = candidate.epoch == spec.epoch and release == spec.release
            elif spec.local is None:
                equal = candidate.public == spec  # ==1.0 matches 1.0+ubuntu1
            else:
                equal = candidate == spec
            return equal if op == "==" else not equal
        public = candidate.public
        if op == "~=":
            prefix = Clause("==", ".".join(str(n) for n in spec.release[:-1]) + ".*")
            if spec.epoch:
                prefix.version.epoch = spec.epoch
            return public >= spec and prefix.matches(candidate)
        if op == ">=":
            return public >= spec
        if op == "<=":
            return public <= spec
        if op == "<":
            # <2.0 does not admit 2.0's own pre-releases (2.0rc1), unless it names a pre-release itself.
            if not public < spec:
                return False
            return spec.is_prerelease or not public.is_prerelease or _base(public) != _base(spec)
        if op == ">":
            # >1.0 does not admit 1.0's post-releases (1.0.post1) nor local versions (1.0+x).
            if not public > spec:
                return False
            if spec.post is None and public.post is not None and _base(public) == _base(spec):
                return False
            return not (candidate.local is not None and candidate.public == spec)
        raise AssertionError(op)

    def __str__(self):
        return self.op + self.text


def _base(version):
    release = version.release
    while len(release) > 1 and release[-1] == 0:
        release = release[:-1]
    return (version.epoch, release)


_NAME = re.compile(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[([^\]]*)\])?\s*")


class Requirement:
    """A parsed requirement string: `name`, `clauses`, and `satisfied_by(version text)`."""

    def __init__(self, text):
        if not isinstance(text, str):
            raise InvalidRequirement("a requirement is a string such as \"numpy>=1.20\", not %r" % (text,))
        self.text = text
        if ";" in text:
            raise InvalidRequirement("%r: environment markers (after ';') are not supported" % text)
        if "@" in text:
            raise InvalidRequirement("%r: URL requirements (name @ url) are not supported" % text)
        match = _NAME.match(text)
        if match is None or not match.group(1):
            raise InvalidRequirement("%r does not begin with a package name" % text)
        self.name = match.group(1)
        self.key = normalize(self.name)
        rest = text[match.end():].strip()
        if rest.startswith("(") and rest.endswith(")"):
            rest = rest[1:-1]
        self.clauses = []
        if rest:
            for part in rest.split(","):
                clause = _CLAUSE.fullmatch(part)
                if clause is None:
                    raise InvalidRequirement("%r: %r is not a version clause (such as >=1.20)" % (text, part.strip()))
                self.clauses.append(Clause(clause.group(1), clause.group(2)))

    def satisfied_by(self, version_text):
        try:
            version = Version(version_text)
        except InvalidRequirement:
            # A version PEP 440 cannot read: only === (or no clause) can match it.
            return all(c.op == "===" and c.text.lower() == version_text.lower() for c in self.clauses)
        return all(clause.matches(version) for clause in self.clauses)

    def __str__(self):
        return self.text


def normalize(name):
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_version(name):
    """The version of the distribution `name` this interpreter has, or None."""
    import importlib.metadata
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        pass
    wanted = normalize(name)
    for dist in importlib.metadata.distributions():
        if normalize(dist.metadata["Name"] or "") == wanted:
            return dist.version
    return None


def lacking(texts):
    """{requirement: why this interpreter does not satisfy it} for the ones it does not."""
    out = {}
    for text in texts:
        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            out[text] = "not a requirement: %s" % exc
            continue
        version = installed_version(requirement.name)
        if version is None:
            out[text] = "%s is not installed" % requirement.name
        elif not requirement.satisfied_by(version):
            out[text] = "%s %s is installed" % (requirement.name, version)
    return out


def main(argv):
    """A worker's check (lib/cluster/package-check.ts): requirements as JSON in argv[0]; the
    answer, JSON on stdout: {requirement: why it is lacking} (empty: all satisfied)."""
    import json
    print(json.dumps(lacking(json.loads(argv[0]))))
