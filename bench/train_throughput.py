"""The PyTorch peer of bench/train_throughput.cpp: the same DCGAN (PyTorch's DCGAN example
at 28x28x1, width 64, latent 100), the same Adam settings and the same non-saturating step.
Run by bench/train_throughput.sh with Debian's python3-torch; prints one JSON line."""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 30
torch.set_num_threads(threads)
torch.manual_seed(0)
nz, w, c, batch = 100, 64, 1, 64

G = nn.Sequential(
    nn.ConvTranspose2d(nz, w * 2, 7, 1, 0, bias=False), nn.BatchNorm2d(w * 2), nn.ReLU(True),
    nn.ConvTranspose2d(w * 2, w, 4, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(True),
    nn.ConvTranspose2d(w, c, 4, 2, 1, bias=False), nn.Tanh())
D = nn.Sequential(
    nn.Conv2d(c, w, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
    nn.Conv2d(w, w * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(w * 2), nn.LeakyReLU(0.2, inplace=True),
    nn.Conv2d(w * 2, 1, 7, 1, 0, bias=False))
opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
real = torch.rand(batch, 1, 28, 28) * 2 - 1


def step():
    z = torch.randn(batch, nz, 1, 1)
    fake = G(z)
    real_logits = D(real).view(-1)
    fake_logits = D(fake.detach()).view(-1)
    d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits)) +
              F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    out = D(fake).view(-1)
    g_loss = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    return d_loss.item(), g_loss.item()


for _ in range(3):
    step()
t0 = time.perf_counter()
for _ in range(steps):
    step()
seconds = time.perf_counter() - t0
print(json.dumps({"impl": "pytorch", "version": torch.__version__, "threads": threads, "batch": batch,
                  "steps": steps, "seconds": seconds, "img_per_s": steps * batch / seconds}))
