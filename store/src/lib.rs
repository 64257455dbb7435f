//! The model store: names, on-disk layout, pulls, the watcher and imports.
