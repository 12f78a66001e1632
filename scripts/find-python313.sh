#!/usr/bin/env bash
# Prints the path of a working Python 3.13 interpreter, or explains what to install.
# PATH first (a pyenv shim may be on PATH without 3.13 being active, so each candidate
# must actually run), then pyenv's versions folder. An argument asks for another version
# (benchmarks/side_venv.py: a benchmark-only environment for a library not on 3.13 yet).
set -u
want="${1:-3.13}"
candidates=()
command -v "python$want" >/dev/null 2>&1 && candidates+=("$(command -v "python$want")")
pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
for p in "$pyenv_root"/versions/$want*/bin/python$want /root/.pyenv/versions/$want*/bin/python$want /usr/local/bin/python$want /usr/bin/python$want; do
  [ -x "$p" ] && candidates+=("$p")
done
for c in "${candidates[@]}"; do
  v=$("$c" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || continue
  if [ "$v" = "$want" ]; then
    "$c" -c 'import sys; print(sys.executable)'
    exit 0
  fi
done
cat >&2 <<MSG
error: Python $want was not found (looked on PATH and in $pyenv_root/versions/$want*).
The Lambda runtime (python3.13), the training container and the development environment all use it.
Install it, for example with 'pyenv install $want' or your system's python$want package, then run make again.
MSG
exit 1
