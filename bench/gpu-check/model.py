"""gpu-check: a `high`-profile step that multiplies two matrices on the GPU with PyTorch and
checks the product against the CPU. Used by bench/gpu-check.sh on a machine with a GPU."""
import time

import feather as ftr


def init():
    return ftr.Text.In(default_text="2048", title="Matrix size", max_chars=6)


@ftr.step(title="Multiply on the GPU", outputs=["report"])
def multiply(size: ftr.Text.In) -> ftr.Text.View:
    import torch

    n = int(size.get()[0])
    if not torch.cuda.is_available():
        raise RuntimeError("no CUDA device is visible to this step")
    gen = torch.Generator().manual_seed(0)
    a_cpu, b_cpu = torch.randn(n, n, generator=gen), torch.randn(n, n, generator=gen)
    a, b = a_cpu.cuda(), b_cpu.cuda()
    (a @ b).sum().item()  # warm-up
    torch.cuda.synchronize()
    start = time.perf_counter()
    c = a @ b
    torch.cuda.synchronize()
    ms = (time.perf_counter() - start) * 1000
    err = (c.cpu() - a_cpu @ b_cpu).abs().max().item()
    tflops = 2 * n ** 3 / (ms / 1000) / 1e12
    print(f"torch {torch.__version__}, cuda {torch.version.cuda}")
    return ftr.Text.View(
        f"{torch.cuda.get_device_name(0)}: {n}x{n} fp32 matmul in {ms:.2f} ms "
        f"({tflops:.1f} TFLOP/s), max |GPU - CPU| = {err:.2e}", title="Report")


ftr.build(name="gpu-check", init=init, steps=[multiply], profile="high",
          description="Multiplies two matrices on the GPU and checks the result on the CPU.",
          python_packages=["torch"])
