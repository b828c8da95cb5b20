# buildstream-plugins-community ships go_module without registering it as a pip entry
# point; this local plugin re-exports it so that real BuildStream can load the project.
from buildstream_plugins_community.sources.go_module import setup  # noqa: F401
