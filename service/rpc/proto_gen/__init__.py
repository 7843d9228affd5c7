"""Generated protobuf and gRPC stubs (hack/gen-protos.sh); do not edit."""
