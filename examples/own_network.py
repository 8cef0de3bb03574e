#!/usr/bin/python3
"""Your own network in sublens: train a small CNN on Fashion-MNIST in your own PyTorch loop, record
500 test images' activations at every epoch with sublens.torch.Recorder, then analyse the run:

    PYTHONPATH=build/python python3 examples/own_network.py
    build/bin/sublens study --run runs/cnn -o cnn-study

Runs on the CPU in about a minute (CUDA is used when available: the recorder follows the model).
"""
import gzip

import numpy as np
import torch
from torch import nn

import sublens.torch

FMNIST = "/usr/share/datasets/fashion-mnist"


def images(part):
    with gzip.open(f"{FMNIST}/{part}-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read()[16:], np.uint8).reshape(-1, 1, 28, 28)
    with gzip.open(f"{FMNIST}/{part}-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read()[8:], np.uint8)
    return torch.tensor(x / 255, dtype=torch.float32), torch.tensor(y, dtype=torch.int64)


torch.manual_seed(0)
torch.set_num_threads(2)
device = "cuda" if torch.cuda.is_available() else "cpu"
train_x, train_y = images("train")
test_x, test_y = images("t10k")
train_x, train_y = train_x[:6000], train_y[:6000]

model = nn.Sequential(
    nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),   # 0-3
    nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),  # 4-7
    nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),                   # 8-10
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),                         # 11-13
).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)

# The analysis set: 500 test images, the same at every epoch. Layers by name (globs allowed).
recorder = sublens.torch.Recorder(model, ["2", "6", "10", "13"], test_x[:500], test_y[:500],
                                  "runs/cnn", metadata={"optimizer": "SGD lr 0.05", "seed": 0})
for epoch in range(1, 6):
    model.train()
    for batch in torch.randperm(len(train_x)).split(64):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(train_x[batch].to(device)),
                                           train_y[batch].to(device))
        loss.backward()
        optimizer.step()
    print(recorder.record(epoch))  # eval mode, no_grad, streamed to disk; training mode restored
