"""Files: `paths` says where they are (local paths and pyarrow.fs URIs, globs, reading, compressed
lines), `atomic` how they are written (temp file then rename, completion markers), `run_folder`
who owns an output folder (the marker, the lock, what --overwrite may remove)."""
