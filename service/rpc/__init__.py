"""The gRPC API (upstream's ``proto`` package): servicers over the same managers as the HTTP routes.

``protos/`` holds the .proto sources, ``proto_gen/`` the stubs generated from them by ``hack/gen-protos.sh``.
"""
