#!/usr/bin/env python3
"""PyTorch CPU seconds per training iteration of the published training code beside
`scenepaint bench --train` (outside the project: nothing in scenepaint depends on PyTorch):
NVlabs/SPADE's `Pix2PixTrainer` (`train.py`'s generator and discriminator steps) for the SPADE
cases, NVIDIA/pix2pixHD's `Pix2PixHDModel` with `train.py`'s two optimizer steps for
pix2pixhd-compact, junyanz/pytorch-CycleGAN-and-pix2pix's `Pix2PixModel.optimize_parameters`
for pix2pix-compact.

The published code is not part of scenepaint; bring it here and point --spade / --pix2pixhd at
it:

    git clone https://github.com/NVlabs/SPADE ../baselines/SPADE   # or a local mirror of it
    git clone https://github.com/NVIDIA/pix2pixHD ../baselines/pix2pixHD
    git clone https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix ../baselines/pix2pix
    python3 -m venv venv && venv/bin/pip install torch dill && venv/bin/pip install --no-deps torchvision
    venv/bin/python scripts/bench_pytorch_train.py --spade ../baselines/SPADE --case spade-compact [--threads 2]
    venv/bin/python scripts/bench_pytorch_train.py --pix2pixhd ../baselines/pix2pixHD --case pix2pixhd-compact
    venv/bin/python scripts/bench_pytorch_train.py --pix2pix ../baselines/pix2pix --case pix2pix-compact

pix2pix needs only `models/networks.py`, `models/pix2pix_model.py`, `models/base_model.py`
and `util/image_pool.py` of its checkout; its options are given here directly (an
`argparse.Namespace` with the published defaults pix2pix sets), not through its option parser.
Where the whole repository cannot be cloned (it is about 3 GB with its history), those files
at a known commit are enough: the first two as published, `BaseModel` reduced to what
`Pix2PixModel` calls (its device and `set_requires_grad`) and `ImagePool` to pool size 0, which
returns its input (neither does tensor work in the published code at these options).

pix2pixHD's code calls `.cuda()` and `torch.cuda.FloatTensor` throughout; here they stay on
the CPU (the calls return their tensor or module unchanged), and its VGG19 is the VGG16 below,
as for SPADE.

Each case builds the published model from its option parser with the options of the matching
`scenepaint bench --train` case (networks, losses, batch, crop, VAE encoder, two
discriminators, TTUR), feeds synthetic 9-class blocky label maps and random photos (as the
scenepaint bench does), and prints the median seconds of STEPS timed iterations after 2
warm-up ones, images per second and the process's peak resident memory so far.

Changes to the published code, made here at run time: its `sync_batchnorm` submodule (absent
from the snapshot) is nn.BatchNorm2d, which it equals on one device; SPADE's hidden width,
fixed at 128 there, is the case's (`spade_hidden_nc`, as scenepaint's option); its perceptual
loss loads
torchvision's ImageNet VGG19 (a download) and moves it to CUDA; it is replaced by VGG16 with
the same five taps (relu1_1 .. relu5_1, weights 1/32 .. 1) on the CPU, which is the network
scenepaint's VGG loss uses (`../shared/weights`). Its weights are random: the time does not
depend on them.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time

import torch
import torch.nn as nn

# The scenepaint bench case of each name (src/train/bench.rs), as published options:
# spade-compact is the preset at 256x256 (no VAE); ycor-spade-256 is
# assets/train/ycor-spade-256.json (the VAE encoder, batch-norm SPADE, batch 4).
CASES = {
    "spade-compact": dict(
        width=256, height=256, batch=1,
        options=["--ngf", "32", "--ndf", "32", "--norm_G", "spectralspadeinstance3x3"],
        hidden=64,
    ),
    "ycor-spade-256": dict(
        width=256, height=128, batch=4,
        options=["--ngf", "16", "--ndf", "32", "--norm_G", "spectralspadesyncbatch3x3",
                 "--use_vae", "--z_dim", "256"],
        hidden=32,
    ),
    # The pix2pixhd-compact preset (src/train/config): the global generator with half the
    # channels, 3 downsamplings, 6 blocks; 2 D of 3 layers, ndf 32; 128x128, batch 1.
    "pix2pixhd-compact": dict(
        width=128, height=128, batch=1,
        options=["--netG", "global", "--ngf", "32", "--n_downsample_global", "3",
                 "--n_blocks_global", "6", "--ndf", "32", "--num_D", "2", "--n_layers_D", "3"],
    ),
    # The pix2pix-compact preset: unet_128 (7 downsamplings) with ngf 32, dropout, batch norm;
    # the basic PatchGAN with ndf 32 on label + photo; vanilla GAN + 100 L1; 128x128, batch 1.
    "pix2pix-compact": dict(
        width=128, height=128, batch=1,
        options=dict(netG="unet_128", ngf=32, ndf=32),
    ),
}


class Vgg16Taps(nn.Module):
    """VGG16's convolutions up to relu5_1, returning the five taps the VGG loss weighs."""

    def __init__(self, requires_grad=False):
        super().__init__()
        widths = [(3, 64), (64, 64), "M", (64, 128), (128, 128), "M", (128, 256), (256, 256),
                  (256, 256), "M", (256, 512), (512, 512), (512, 512), "M", (512, 512)]
        layers, self.taps = [], []
        for w in widths:
            if w == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(w[0], w[1], 3, padding=1), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        # relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 in the Sequential above.
        self.tap_indices = {1, 6, 11, 18, 25}
        for p in self.parameters():
            p.requires_grad = requires_grad

    def cuda(self, *args, **kwargs):  # the published VGGLoss calls .cuda(); stay on the CPU
        return self

    def forward(self, x):
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.tap_indices:
                out.append(x)
        return out


def build_trainer(spade_dir, case, workdir):
    sys.path.insert(0, spade_dir)
    # The published code's sync_batchnorm is a git submodule (not in the snapshot); on one
    # device its SynchronizedBatchNorm2d is nn.BatchNorm2d.
    import types
    sync = types.ModuleType("models.networks.sync_batchnorm")
    sync.SynchronizedBatchNorm2d = nn.BatchNorm2d
    sync.DataParallelWithCallback = nn.DataParallel
    sys.modules["models.networks.sync_batchnorm"] = sync
    import models.networks.loss as loss_module  # noqa: E402  (the published code)
    loss_module.VGG19 = Vgg16Taps
    from options.train_options import TrainOptions  # noqa: E402
    from trainers.pix2pix_trainer import Pix2PixTrainer  # noqa: E402

    size = case["width"]
    argv = ["train.py", "--name", "bench", "--checkpoints_dir", workdir, "--gpu_ids", "-1",
            "--dataset_mode", "custom", "--label_dir", workdir, "--image_dir", workdir,
            "--label_nc", "9", "--no_instance", "--num_D", "2",
            "--n_layers_D", "3", "--batchSize", str(case["batch"]),
            "--preprocess_mode", "fixed", "--load_size", str(size), "--crop_size", str(size),
            "--aspect_ratio", str(case["width"] / case["height"]),
            "--beta1", "0.0", "--beta2", "0.9", "--nThreads", "0"] + case["options"]
    sys.argv = argv
    opt = TrainOptions().parse()
    opt.semantic_nc = 9
    # SPADE's hidden width is fixed at 128 in the published SPADE layer; set it as ours.
    import models.networks.normalization as norm_module  # noqa: E402
    hidden = case["hidden"]
    original_init = norm_module.SPADE.__init__

    def spade_init(self, config_text, norm_nc, label_nc):
        original_init(self, config_text, norm_nc, label_nc)
        ks = self.mlp_shared[0].kernel_size[0]
        pw = ks // 2
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, hidden, ks, padding=pw), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, norm_nc, ks, padding=pw)
        self.mlp_beta = nn.Conv2d(hidden, norm_nc, ks, padding=pw)

    norm_module.SPADE.__init__ = spade_init
    return Pix2PixTrainer(opt)


class Pix2pixhdSteps:
    """`train.py`'s iteration: the model's losses, then the G and the D optimizer steps."""

    def __init__(self, model):
        self.model = model

    def step(self, data):
        losses, _ = self.model(data["label"], data["instance"], data["image"], data["feat"])
        losses = [torch.mean(x) if not isinstance(x, int) else x for x in losses]
        named = dict(zip(self.model.loss_names, losses))
        loss_d = (named["D_fake"] + named["D_real"]) * 0.5
        loss_g = named["G_GAN"] + named.get("G_GAN_Feat", 0) + named.get("G_VGG", 0)
        self.model.optimizer_G.zero_grad()
        loss_g.backward()
        self.model.optimizer_G.step()
        self.model.optimizer_D.zero_grad()
        loss_d.backward()
        self.model.optimizer_D.step()


def build_pix2pixhd(hd_dir, case, workdir):
    sys.path.insert(0, hd_dir)
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    nn.Module.cuda = lambda self, *args, **kwargs: self
    torch.cuda.FloatTensor = torch.FloatTensor
    import models.networks as networks  # noqa: E402  (the published code)
    networks.Vgg19 = Vgg16Taps
    from options.train_options import TrainOptions  # noqa: E402
    from models.models import create_model  # noqa: E402

    size = case["width"]
    sys.argv = ["train.py", "--name", "bench", "--checkpoints_dir", workdir, "--gpu_ids", "-1",
                "--label_nc", "9", "--no_instance", "--batchSize", str(case["batch"]),
                "--loadSize", str(size), "--fineSize", str(size)] + case["options"]
    opt = TrainOptions().parse(save=False)
    return Pix2pixhdSteps(create_model(opt))


class Pix2pixSteps:
    """One `optimize_parameters` of the published Pix2PixModel (its D step, then its G step)
    on the synthetic batch: the label map drawn in 9 colours (3 channels, as scenepaint's
    pix2pix reads it and as the published aligned datasets store it) is its A, the photo its B."""

    def __init__(self, model):
        self.model = model

    def step(self, data):
        label = data["label"].long()[:, 0]
        palette = torch.linspace(-1.0, 1.0, 27).reshape(9, 3)
        colours = palette[label].permute(0, 3, 1, 2).contiguous()
        self.model.set_input({"A": colours, "B": data["image"], "A_paths": data["path"],
                              "B_paths": data["path"]})
        self.model.optimize_parameters()


def build_pix2pix(p2p_dir, case):
    sys.path.insert(0, p2p_dir)
    from models.pix2pix_model import Pix2PixModel  # noqa: E402  (the published code)

    # The published options pix2pix trains with (base/train options and the defaults
    # Pix2PixModel.modify_commandline_options sets), with the case's sizes.
    opt = argparse.Namespace(
        isTrain=True, gpu_ids=[], input_nc=3, output_nc=3, norm="batch", no_dropout=False,
        init_type="normal", init_gain=0.02, netD="basic", n_layers_D=3, pool_size=0,
        gan_mode="vanilla", lambda_L1=100.0, lr=0.0002, beta1=0.5, direction="AtoB",
        **case["options"])
    model = Pix2PixModel(opt)
    model.netG.train()
    model.netD.train()
    return Pix2pixSteps(model)


def synthetic_data(case, generator):
    n, w, h = case["batch"], case["width"], case["height"]
    cells = torch.randint(0, 9, (n, 1, (h + 15) // 16, (w + 15) // 16), generator=generator)
    label = cells.repeat_interleave(16, 2).repeat_interleave(16, 3)[:, :, :h, :w].float()
    return {"label": label, "instance": torch.zeros(n, 1, h, w),
            "image": torch.rand(n, 3, h, w, generator=generator) * 2 - 1, "path": ["x"] * n,
            "feat": torch.zeros(1)}


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--spade", help="a checkout of NVlabs/SPADE (the SPADE cases)")
    parser.add_argument("--pix2pixhd", help="a checkout of NVIDIA/pix2pixHD (pix2pixhd-compact)")
    parser.add_argument("--pix2pix",
                        help="a checkout of junyanz/pytorch-CycleGAN-and-pix2pix (pix2pix-compact)")
    parser.add_argument("--case", choices=sorted(CASES), required=True,
                        help="one case per process, so the peak memory is that case's")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--profile", action="store_true",
                        help="after the timed steps, one more under torch.profiler: its operators "
                             "by self CPU time (where PyTorch spends an iteration)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    case = CASES[args.case]
    with tempfile.TemporaryDirectory() as workdir:
        stdout = sys.stdout
        sys.stdout = open(os.devnull, "w")  # the option parser prints every option
        try:
            if args.case.startswith("pix2pix-"):
                if not args.pix2pix:
                    sys.exit(f"--pix2pix (a checkout of pytorch-CycleGAN-and-pix2pix) is needed "
                             f"for {args.case}")
                run_step = build_pix2pix(args.pix2pix, case).step
            elif args.case.startswith("pix2pixhd"):
                if not args.pix2pixhd:
                    sys.exit(f"--pix2pixhd (a checkout of NVIDIA/pix2pixHD) is needed for {args.case}")
                hd = build_pix2pixhd(args.pix2pixhd, case, workdir)
                run_step = hd.step
            else:
                if not args.spade:
                    sys.exit(f"--spade (a checkout of NVlabs/SPADE) is needed for {args.case}")
                trainer = build_trainer(args.spade, case, workdir)

                def run_step(data):
                    trainer.run_generator_one_step(data)
                    trainer.run_discriminator_one_step(data)
        finally:
            sys.stdout = stdout
        generator = torch.Generator().manual_seed(0)
        data = synthetic_data(case, generator)
        times = []
        for step in range(args.steps + 2):
            started = time.perf_counter()
            run_step(data)
            if step >= 2:
                times.append(time.perf_counter() - started)
        if args.profile:
            from torch.profiler import profile, ProfilerActivity
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                run_step(data)
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30),
                  file=sys.stderr)
    seconds = statistics.median(times)
    print(json.dumps({
        "case": args.case, "width": case["width"], "height": case["height"],
        "batch_size": case["batch"], "threads": args.threads, "steps": args.steps,
        "seconds_per_iter": seconds, "images_per_s": case["batch"] / seconds,
        "peak_rss_mib": peak_rss_mib(), "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
