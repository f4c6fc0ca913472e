"""Widgets of the main window; each binds to :class:`app.state.AppState`."""
