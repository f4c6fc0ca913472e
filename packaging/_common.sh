# Shared helpers of the packaging scripts (sourced, not run).
# find_python: the first Python >= 3.12 among $PYTHON, python3.12, pyenv's 3.12+ and python3
# (pyenv shims can exist without a selected version, so each candidate is really run).
find_python() {
  local c
  for c in "${PYTHON:-}" "$(command -v python3.12 || true)" \
           "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/3.1[2-9]*/bin/python3 \
           "$(command -v python3 || true)"; do
    if [ -n "$c" ] && [ -x "$c" ] && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      echo "$c"; return 0
    fi
  done
  echo "Python 3.12 or newer is required (set PYTHON=/path/to/python3.12)" >&2
  return 1
}

# project_version: the version in pyproject.toml (engine.__version__ must agree: tests check it).
project_version() {
  sed -n 's/^version *= *"\([^"]*\)".*/\1/p' "$1/pyproject.toml" | head -n 1
}
