"""The ``ttvd`` command: serve the API, run the daemon, submit and inspect jobs, render one-off.

One module per role: ``main`` (the entry point: settings, logging, a failure as one line), ``parser``
(the grammar, naming each command's function), ``jobs`` (the job commands), ``service`` (serve,
daemon, mcp, install-systemd), ``checks`` (voices, doctor), ``render`` (in-process render) and
``home`` (the home a command works in). Each command imports its heavy parts (the API server, the
daemon, the pipeline with numpy and the render engines) inside its own function, so ``ttvd status``
or ``ttvd jobs`` answer at once.
"""
