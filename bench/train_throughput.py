"""The PyTorch peer of bench/train_throughput.sh: the same networks as latentkit's (the DCGAN
ladder of PyTorch's DCGAN example; latentkit's diffusion U-Net), the same optimiser and the same
step, timed after a warm-up. bf16 is CPU autocast to bfloat16 with channels-last weights, as
PyTorch's performance guide has it. Prints one JSON line.
Usage: train_throughput.py MODEL(dcgan|unet) SIZE CHANNELS BATCH THREADS STEPS PRECISION(fp32|bf16)"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

model, size, channels, batch, threads, steps, precision = sys.argv[1], *map(int, sys.argv[2:7]), sys.argv[7]
torch.set_num_threads(threads)
torch.manual_seed(0)
bf16 = precision == "bf16"


def dcgan(size, c, w=64, nz=100):
    base, doublings = {28: (7, 2), 32: (4, 3), 64: (4, 4)}[size]
    ch = w << (doublings - 1)
    g = [nn.ConvTranspose2d(nz, ch, base, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)]
    for _ in range(1, doublings):
        g += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
        ch //= 2
    g += [nn.ConvTranspose2d(ch, c, 4, 2, 1, bias=False), nn.Tanh()]
    ch = w
    d = [nn.Conv2d(c, ch, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
    for _ in range(1, doublings):
        d += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2, inplace=True)]
        ch *= 2
    d += [nn.Conv2d(ch, 1, base, 1, 0, bias=False)]
    return nn.Sequential(*g), nn.Sequential(*d)


def conv3(i, o, stride=1):
    return nn.Conv2d(i, o, 3, stride, 1)


class ResBlock(nn.Module):
    def __init__(self, i, o, tdim, g):
        super().__init__()
        self.norm1, self.conv1, self.time = nn.GroupNorm(g, i), conv3(i, o), nn.Linear(tdim, o)
        self.norm2, self.conv2 = nn.GroupNorm(g, o), conv3(o, o)
        self.skip = nn.Conv2d(i, o, 1) if i != o else None

    def forward(self, x, temb):
        # GroupNorm in fp32, as in latentkit (no bf16 GroupNorm on CPU in PyTorch 1.13).
        h = self.conv1(F.silu(self.norm1(x.float()))) + self.time(temb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h.float())))
        return (self.skip(x) if self.skip is not None else x) + h


class Attention(nn.Module):
    def __init__(self, c, g):
        super().__init__()
        self.norm, self.qkv, self.proj = nn.GroupNorm(g, c), nn.Conv2d(c, 3 * c, 1), nn.Conv2d(c, c, 1)

    def forward(self, x):
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x.float())).reshape(n, 3, c, h * w).unbind(1)
        a = torch.softmax(torch.bmm(q.transpose(1, 2), k) / math.sqrt(c), -1)
        return x + self.proj(torch.bmm(v, a.transpose(1, 2)).reshape(n, c, h, w))


class UNet(nn.Module):
    """latentkit/models/unet.cpp, layer for layer (width 32, mults 1,2,2, one ResBlock a level)."""

    def __init__(self, c, w=32, mults=(1, 2, 2), res_blocks=1, g=8):
        super().__init__()
        tdim, self.w, self.levels, self.res = 4 * w, w, len(mults), res_blocks
        self.conv_in = conv3(c, w)
        self.time_mlp = nn.Sequential(nn.Linear(w, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.down, self.downsample, self.down_attn = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        self.up, self.upsample, self.up_attn = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        skips, ch = [w], w
        for level, m in enumerate(mults):
            for _ in range(res_blocks):
                self.down.append(ResBlock(ch, w * m, tdim, g))
                if level == self.levels - 1:
                    self.down_attn.append(Attention(w * m, g))
                ch = w * m
                skips.append(ch)
            if level < self.levels - 1:
                self.downsample.append(conv3(ch, ch, 2))
                skips.append(ch)
        self.mid1, self.mid_attn, self.mid2 = ResBlock(ch, ch, tdim, g), Attention(ch, g), ResBlock(ch, ch, tdim, g)
        for level in reversed(range(self.levels)):
            for _ in range(res_blocks + 1):
                self.up.append(ResBlock(ch + skips.pop(), w * mults[level], tdim, g))
                if level == self.levels - 1:
                    self.up_attn.append(Attention(w * mults[level], g))
                ch = w * mults[level]
            if level > 0:
                self.upsample.append(conv3(ch, ch))
        self.norm_out, self.conv_out = nn.GroupNorm(g, ch), conv3(ch, c)

    def forward(self, x, t):
        half = self.w // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / max(half - 1, 1))
        args = t.float()[:, None] * freqs[None]
        temb = self.time_mlp(torch.cat([torch.sin(args), torch.cos(args)], 1))
        h = self.conv_in(x)
        skips, block, attn = [h], 0, 0
        for level in range(self.levels):
            for _ in range(self.res):
                h = self.down[block](h, temb)
                block += 1
                if level == self.levels - 1:
                    h = self.down_attn[attn](h)
                    attn += 1
                skips.append(h)
            if level < self.levels - 1:
                h = self.downsample[level](h)
                skips.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, temb)), temb)
        block, attn = 0, 0
        for level in reversed(range(self.levels)):
            for _ in range(self.res + 1):
                h = self.up[block](torch.cat([h, skips.pop()], 1), temb)
                block += 1
                if level == self.levels - 1:
                    h = self.up_attn[attn](h)
                    attn += 1
            if level > 0:
                h = F.interpolate(h, scale_factor=2, mode="nearest")
                h = self.upsample[self.levels - 1 - level](h)
        return self.conv_out(F.silu(self.norm_out(h.float())))


def channels_last(net):
    return net.to(memory_format=torch.channels_last) if bf16 else net


real = torch.rand(batch, channels, size, size) * 2 - 1
if bf16:
    real = real.contiguous(memory_format=torch.channels_last)
autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)

if model == "dcgan":
    G, D = map(channels_last, dcgan(size, channels))
    nets = [G, D]
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))

    def step():
        with autocast:
            z = torch.randn(batch, 100, 1, 1)
            fake = G(z)
            real_logits = D(real).view(-1).float()
            fake_logits = D(fake.detach()).view(-1).float()
            d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits)) +
                      F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            out = D(fake).view(-1).float()
            g_loss = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
else:
    net = channels_last(UNet(channels))
    ema = UNet(channels)
    ema.load_state_dict(net.state_dict())
    nets = [net]
    opt = torch.optim.Adam(net.parameters(), lr=4e-4)
    alphas_bar = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000), 0)

    def step():
        with autocast:
            t = torch.randint(1000, (batch,))
            noise = torch.randn_like(real)
            a = alphas_bar[t][:, None, None, None]
            x_t = a.sqrt() * real + (1 - a).sqrt() * noise
            loss = (net(x_t, t).float() - noise).square().mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
        with torch.no_grad():
            for e, p in zip(ema.parameters(), net.parameters()):
                e.mul_(0.999).add_(p, alpha=0.001)

for _ in range(3):
    step()
t0 = time.perf_counter()
for _ in range(steps):
    step()
seconds = time.perf_counter() - t0
print(json.dumps({"impl": "pytorch", "version": torch.__version__, "model": model, "precision": precision,
                  "threads": threads, "batch": batch, "steps": steps, "seconds": seconds,
                  "parameters": sum(p.numel() for n in nets for p in n.parameters()),
                  "img_per_s": steps * batch / seconds}))
