def step(responses):
    results = {}
    for path in ["/tmp/ok.txt", "/scratch/x.txt", "/model/x.txt", "/etc/x.txt"]:
        try:
            with open(path, "w") as f:
                f.write("x")
            results[path] = "written"
        except OSError as e:
            results[path] = e.strerror
    return [{"name": "writes", "value": results}]
