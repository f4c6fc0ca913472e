#!/bin/sh
# /usr/bin/featurescope: start the bundle installed in /opt/featurescope.
# Qt wants a UTF-8 locale; give it one when the session has none.
case "${LC_ALL:-${LC_CTYPE:-${LANG:-}}}" in
  *UTF-8*|*utf8*|*UTF8*|*utf-8*) ;;
  *) export LC_CTYPE=C.UTF-8 ;;
esac
exec /opt/featurescope/featurescope "$@"
