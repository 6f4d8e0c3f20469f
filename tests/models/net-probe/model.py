"""net-probe: a hostile model for the sandbox tests. Its step tries to open TCP connections to the
addresses it is given (host:port, one per line) and reports, per address, whether it connected."""
import socket

import feather as ftr


def init():
    return ftr.Text.In(default_text="", title="Addresses (host:port)", num_inputs=1, max_chars=1000)


@ftr.step(title="Probe", outputs=["report"])
def probe(addresses: ftr.Text.In) -> ftr.Text.View:
    lines = []
    for target in addresses.get()[0].split():
        host, port = target.rsplit(":", 1)
        try:
            with socket.create_connection((host, int(port)), timeout=3):
                lines.append(f"{target} connected")
        except OSError as error:
            lines.append(f"{target} blocked: {error}")
    return ftr.Text.View(lines, title="Report")


ftr.build(name="net-probe", init=init, steps=[probe], description="Tries to reach the network.")
