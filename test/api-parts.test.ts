// The Node API's pure parts, without processes: tracebacks taken apart, and pythonOptions
// turned into the variables a zygote's run honours.
import t from 'tap';
import { parseTraceback } from '../dist/index';
import { planPythonOptions } from '../dist/api/python-options';

t.test('a chained traceback: the last exception is the one that ended the run', async (t) => {
  const stderr = [
    'Traceback (most recent call last):',
    '  File "/s/a.py", line 3, in <module>',
    '    {}["k"]',
    "KeyError: 'k'",
    '',
    'During handling of the above exception, another exception occurred:',
    '',
    'Traceback (most recent call last):',
    '  File "/s/a.py", line 5, in <module>',
    '    f()',
    '  File "/s/b.py", line 2, in f',
    '    return json.loads(text)',
    '           ^^^^^^^^^^^^^^^^',
    '  [Previous line repeated 2 more times]',
    'json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)',
    '',
  ].join('\n');
  t.same(parseTraceback(stderr), {
    type: 'json.decoder.JSONDecodeError',
    message: 'Expecting value: line 1 column 1 (char 0)',
    frames: [
      { file: '/s/a.py', line: 5, function: '<module>', source: 'f()' },
      { file: '/s/b.py', line: 2, function: 'f', source: 'return json.loads(text)' },
    ],
  });
});

t.test('no message, a multi-line message, a SyntaxError, an exception group, none at all', async (t) => {
  t.match(parseTraceback('Traceback (most recent call last):\n  File "x.py", line 1, in <module>\n    raise SystemError\nSystemError\n'), { type: 'SystemError', message: '' });
  t.match(parseTraceback('Traceback (most recent call last):\n  File "x.py", line 1, in <module>\nValueError: first\nsecond\n'), { message: 'first\nsecond' });
  t.same(parseTraceback('  File "/s/x.py", line 1\n    print("a"\n         ^\nSyntaxError: \'(\' was never closed\n'), {
    type: 'SyntaxError', message: "'(' was never closed", frames: [{ file: '/s/x.py', line: 1, function: null, source: 'print("a"' }],
  });
  const group = [
    '  + Exception Group Traceback (most recent call last):',
    '  |   File "/s/g.py", line 1, in <module>',
    '  |     raise ExceptionGroup("many", [ValueError(1)])',
    '  | ExceptionGroup: many (1 sub-exception)',
    '  +-+---------------- 1 ----------------',
    '    | ValueError: 1',
    '    +------------------------------------',
  ].join('\n');
  t.match(parseTraceback(group), { type: 'ExceptionGroup', message: 'many (1 sub-exception)', frames: [{ file: '/s/g.py', line: 1 }] });
  t.equal(parseTraceback('usage: tool [-h]\ntool: error: bad\n'), null);
  t.equal(parseTraceback(''), null);
});

t.test('pythonOptions: the variables python reads instead, or the interpreter itself', async (t) => {
  t.same(planPythonOptions(['-u', '-B', '-OO', '-s'], {}), {
    env: { PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1', PYTHONOPTIMIZE: '2', PYTHONNOUSERSITE: '1' }, unsupported: [],
  });
  t.same(planPythonOptions(['-uBO'], {}).env, { PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1', PYTHONOPTIMIZE: '1' }, 'bundled flags');
  t.same(planPythonOptions(['-O'], { PYTHONOPTIMIZE: '2' }).env, { PYTHONOPTIMIZE: '2' }, 'python takes the larger level');
  t.same(planPythonOptions(['-W', 'error', '-Wignore::DeprecationWarning'], { PYTHONWARNINGS: 'default' }).env,
    { PYTHONWARNINGS: 'default,error,ignore::DeprecationWarning' }, "-W after the variable's entries, as in sys.warnoptions");
  t.same(planPythonOptions(['-X', 'utf8', '-Xdev', '-X', 'tracemalloc=5', '-X', 'int_max_str_digits=640', '-X', 'utf8=0'], {}).env,
    { PYTHONUTF8: '0', PYTHONDEVMODE: '1', PYTHONTRACEMALLOC: '5', PYTHONINTMAXSTRDIGITS: '640' });
  t.same(planPythonOptions(['-q'], {}), { env: {}, unsupported: ['-q'] }, '-q shows in sys.flags.quiet: the interpreter runs it');
  for (const [options, unsupported] of [
    [['-E'], ['-E']], [['-I'], ['-I']], [['-S'], ['-S']], [['-v'], ['-v']], [['-bb'], ['-b', '-b']],
    [['-X', 'importtime'], ['-Ximporttime']], [['-X', 'showrefcount'], ['-Xshowrefcount']],
    [['-W', 'ignore:a,b'], ['-Wignore:a,b']], [['--check-hash-based-pycs', 'always'], ['--check-hash-based-pycs', 'always']],
    [['-W'], ['-W']],
  ] as Array<[string[], string[]]>) {
    t.same(planPythonOptions(options, {}).unsupported, unsupported, `${options.join(' ')}: the interpreter runs it`);
  }
});
