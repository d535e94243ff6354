module example.invalid/pod-identity/tools/pause

go 1.26.0
