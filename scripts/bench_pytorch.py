#!/usr/bin/env python3
"""PyTorch CPU timings of the generators `scenepaint bench` measures, for side-by-side
comparison (outside the project: nothing in scenepaint depends on PyTorch).

The networks are written here from the published papers' architectures (pix2pix U-Net,
pix2pixHD GlobalGenerator, SPADE generator with SPADE residual blocks and spectral norm), in
eval mode with random weights, batch 1, under torch.no_grad(), as the published test scripts
run them. Each case prints the median of RUNS timed forwards after one warm-up.

    python3 -m venv venv && venv/bin/pip install torch
    venv/bin/python scripts/bench_pytorch.py [--threads 2] [--runs 5] [--filter TEXT] [--device cuda]

With --device cuda the same networks run on the GPU (synchronised after each forward), beside
`scenepaint bench --device cuda:0` (scripts/gpu-check.sh runs both).
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import spectral_norm


class UnetBlock(nn.Module):
    """pix2pix UnetSkipConnectionBlock with batch norm (conv biases off, as published)."""

    def __init__(self, outer, inner, input_nc=None, sub=None, outermost=False, innermost=False):
        super().__init__()
        self.outermost = outermost
        input_nc = input_nc or outer
        down = nn.Conv2d(input_nc, inner, 4, 2, 1, bias=False)
        if outermost:
            up = nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1)
            layers = [down, sub, nn.ReLU(True), up, nn.Tanh()]
        elif innermost:
            up = nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=False)
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), up, nn.BatchNorm2d(outer)]
        else:
            up = nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=False)
            layers = [nn.LeakyReLU(0.2, True), down, nn.BatchNorm2d(inner), sub,
                      nn.ReLU(True), up, nn.BatchNorm2d(outer)]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


def unet(input_nc=3, output_nc=3, num_downs=8, ngf=64):
    block = UnetBlock(ngf * 8, ngf * 8, innermost=True)
    for _ in range(num_downs - 5):
        block = UnetBlock(ngf * 8, ngf * 8, sub=block)
    block = UnetBlock(ngf * 4, ngf * 8, sub=block)
    block = UnetBlock(ngf * 2, ngf * 4, sub=block)
    block = UnetBlock(ngf, ngf * 2, sub=block)
    return UnetBlock(output_nc, ngf, input_nc=input_nc, sub=block, outermost=True)


class ResnetBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim))

    def forward(self, x):
        return x + self.block(x)


def global_generator(input_nc, output_nc=3, ngf=64, n_down=4, n_blocks=9):
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
    for i in range(n_down):
        c = ngf * 2 ** i
        layers += [nn.Conv2d(c, c * 2, 3, 2, 1), nn.InstanceNorm2d(c * 2), nn.ReLU(True)]
    layers += [ResnetBlock(ngf * 2 ** n_down) for _ in range(n_blocks)]
    for i in range(n_down):
        c = ngf * 2 ** (n_down - i)
        layers += [nn.ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1),
                   nn.InstanceNorm2d(c // 2), nn.ReLU(True)]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
    return nn.Sequential(*layers)


class Spade(nn.Module):
    def __init__(self, norm_nc, label_nc, hidden, batch_norm):
        super().__init__()
        self.norm = (nn.BatchNorm2d(norm_nc, affine=False) if batch_norm
                     else nn.InstanceNorm2d(norm_nc, affine=False))
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, hidden, 3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, norm_nc, 3, padding=1)
        self.mlp_beta = nn.Conv2d(hidden, norm_nc, 3, padding=1)

    def forward(self, x, seg):
        seg = F.interpolate(seg, size=x.shape[2:], mode="nearest")
        actv = self.mlp_shared(seg)
        return self.norm(x) * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class SpadeBlock(nn.Module):
    def __init__(self, fin, fout, label_nc, hidden, batch_norm):
        super().__init__()
        middle = min(fin, fout)
        self.learned = fin != fout
        self.conv_0 = spectral_norm(nn.Conv2d(fin, middle, 3, padding=1))
        self.conv_1 = spectral_norm(nn.Conv2d(middle, fout, 3, padding=1))
        self.norm_0 = Spade(fin, label_nc, hidden, batch_norm)
        self.norm_1 = Spade(middle, label_nc, hidden, batch_norm)
        if self.learned:
            self.conv_s = spectral_norm(nn.Conv2d(fin, fout, 1, bias=False))
            self.norm_s = Spade(fin, label_nc, hidden, batch_norm)

    def forward(self, x, seg):
        x_s = self.conv_s(self.norm_s(x, seg)) if self.learned else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 2e-1))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 2e-1))
        return x_s + dx


class SpadeGenerator(nn.Module):
    """SPADE's generator, num_upsampling_layers 'normal' (5 upsamplings)."""

    def __init__(self, label_nc, ngf, width, height, hidden=128, batch_norm=True, z_dim=None):
        super().__init__()
        nf = ngf
        self.sw, self.sh = width // 32, height // 32
        self.z_dim = z_dim
        if z_dim:
            self.fc = nn.Linear(z_dim, 16 * nf * self.sw * self.sh)
        else:
            self.fc = nn.Conv2d(label_nc, 16 * nf, 3, padding=1)
        block = lambda fin, fout: SpadeBlock(fin, fout, label_nc, hidden, batch_norm)
        self.head_0 = block(16 * nf, 16 * nf)
        self.G_middle_0 = block(16 * nf, 16 * nf)
        self.G_middle_1 = block(16 * nf, 16 * nf)
        self.ups = nn.ModuleList([block(16 * nf, 8 * nf), block(8 * nf, 4 * nf),
                                  block(4 * nf, 2 * nf), block(2 * nf, nf)])
        self.conv_img = nn.Conv2d(nf, 3, 3, padding=1)
        self.nf = nf

    def forward(self, seg, z=None):
        if self.z_dim:
            x = self.fc(z).view(-1, 16 * self.nf, self.sh, self.sw)
        else:
            x = self.fc(F.interpolate(seg, size=(self.sh, self.sw)))
        up = lambda t: F.interpolate(t, scale_factor=2)
        x = up(self.head_0(x, seg))
        x = self.G_middle_1(self.G_middle_0(x, seg), seg)
        for block in self.ups:
            x = block(up(x), seg)
        return torch.tanh(self.conv_img(F.leaky_relu(x, 2e-1)))


def region_ids(classes, height, width, seed=2):
    """A painted-looking label map: the nearest of eight random seeds gives each pixel a class."""
    g = torch.Generator().manual_seed(seed)
    ys = torch.rand(8, generator=g) * height
    xs = torch.rand(8, generator=g) * width
    ids = torch.randint(0, classes, (8,), generator=g)
    yy, xx = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    d = (yy[None] - ys[:, None, None]) ** 2 + (xx[None] - xs[:, None, None]) ** 2
    return ids[d.argmin(0)]


def one_hot_regions(classes, height, width, seed=2):
    return F.one_hot(region_ids(classes, height, width, seed), classes).permute(2, 0, 1)[None].float()


def region_edges(classes, height, width, seed=2):
    """pix2pixHD's instance-edge map of the regions: 1 where a 4-neighbour differs."""
    ids = region_ids(classes, height, width, seed)
    edge = torch.zeros(height, width, dtype=torch.bool)
    edge[:, 1:] |= ids[:, 1:] != ids[:, :-1]
    edge[:, :-1] |= ids[:, 1:] != ids[:, :-1]
    edge[1:, :] |= ids[1:, :] != ids[:-1, :]
    edge[:-1, :] |= ids[1:, :] != ids[:-1, :]
    return edge[None, None].float()


def cases():
    hd = global_generator(36)
    labels_and_edges = torch.cat([one_hot_regions(35, 256, 512), region_edges(35, 256, 512)], 1)
    yield ("pix2pixhd_global ngf64 512x256", hd, (labels_and_edges,))
    yield ("pix2pixhd ngf64 512x256 noise input", hd,
           (torch.rand(1, 36, 256, 512) * 2 - 1,))
    yield ("pix2pix unet_256 ngf64 256x256", unet(), (torch.rand(1, 3, 256, 256) * 2 - 1,))
    for ngf, label_nc in [(64, 151), (64, 10), (16, 10)]:
        yield (f"spade ngf{ngf} label_nc{label_nc} 256x256",
               SpadeGenerator(label_nc, ngf, 256, 256), (one_hot_regions(label_nc, 256, 256),))
    for width, height in [(256, 128), (128, 64)]:
        net = SpadeGenerator(9, 16, width, height, hidden=32, batch_norm=False, z_dim=256)
        yield (f"spade default ngf16 h32 {width}x{height}", net,
               (one_hot_regions(9, height, width), torch.randn(1, 256)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--filter", default="")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {where}, medians of {args.runs} runs")
    for name, net, inputs in cases():
        if args.filter not in name:
            continue
        net.eval().to(device)
        inputs = tuple(x.to(device) for x in inputs)
        with torch.no_grad():
            net(*inputs)
            sync()
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                net(*inputs)
                sync()
                times.append((time.perf_counter() - start) * 1e3)
        print(f"{name:<36} {statistics.median(times):>9.1f} ms (min {min(times):.1f})")


if __name__ == "__main__":
    main()
