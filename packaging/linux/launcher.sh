#!/bin/sh
# /usr/bin/featurescope: start the bundle installed in /opt/featurescope.
# Qt wants a UTF-8 locale; give it one when the session has none. LC_ALL overrides
# LC_CTYPE, so a non-UTF-8 LC_ALL (C, POSIX) is replaced rather than shadowing the fix.
case "${LC_ALL:-${LC_CTYPE:-${LANG:-}}}" in
  *UTF-8*|*utf8*|*UTF8*|*utf-8*) ;;
  *)
    if [ -n "${LC_ALL:-}" ]; then
      export LC_ALL=C.UTF-8
    else
      export LC_CTYPE=C.UTF-8
    fi
    ;;
esac
exec /opt/featurescope/featurescope "$@"
