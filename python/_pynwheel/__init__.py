"""pynwheel's zygote, as a package (private: the name `pynwheel` is kept for a public one).

python/pynwheel_zygote.py, which the daemon starts, imports every module here before anything
else happens and runs them in this order, one process after another (the fork is in between):

  the zygote   zygote.py   its loop, relays, reaping; forks spares (Zygote.serve)
               preload.py  top-level imports, what is imported, compiled scripts
               learn.py    modules the runs import lazily, learned as preloads (the run records them at exit)
               frozen.py   gc.freeze() before each fork, out of the runs' sight
               forkprep.py before each fork: import finders invalidated, obmalloc's free blocks filled
               watcher.py  whether an imported module changed on disk
               relevance.py  which file changes matter to what the zygote imported
               lane.py     the lane's socket, and the check of a request that comes by it
               board.py    the status board and the page record, shared with the children
               wire.py     frames, fds, the protocol's constants and codes
               libc.py     the C library's calls
               debug.py    PYNWHEEL_DEBUG=1 lines
  (fork)       child.py    the child's assignment, made at the fork
  a spare      spare.py    warm-up, waiting on the lane, taking a run or declining it
               newscript.py  a script never run here, read by the spare itself (its family guessed by the runner)
               sched.py    the caller's nice value, CPUs, I/O priority, OOM score; its cgroup and namespaces
  the run      become.py   the caller's stdio, cwd, environment, limits and signals
               title.py    the command line and name that ps shows (readied by the spare)
               script.py   a fresh __main__, and the script's code
               exit.py     python's exit steps, and the status told early
               call.py     a call's run instead of a script (call(), iterate()), and codec.py, its values

Importing a module of it does nothing but define names (unit tests import them freely).
Standard library only: it runs inside the user's own interpreter or venv.
"""
