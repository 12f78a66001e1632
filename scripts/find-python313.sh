#!/usr/bin/env bash
# Prints the path of a working Python 3.13 interpreter, or explains what to install.
# PATH first (a pyenv shim may be on PATH without 3.13 being active, so each candidate
# must actually run), then pyenv's versions folder.
set -u
want="3.13"
candidates=()
command -v python3.13 >/dev/null 2>&1 && candidates+=("$(command -v python3.13)")
pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
for p in "$pyenv_root"/versions/3.13*/bin/python3.13 /root/.pyenv/versions/3.13*/bin/python3.13 /usr/local/bin/python3.13 /usr/bin/python3.13; do
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
error: Python 3.13 was not found (looked on PATH and in $pyenv_root/versions/3.13*).
The Lambda runtime (python3.13), the training container and the development environment all use it.
Install it, for example with 'pyenv install 3.13' or your system's python3.13 package, then run make again.
MSG
exit 1
