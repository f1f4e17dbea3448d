# The README quickstart in PyTorch 1.13. Its output is the fixture
# tests/fixtures/quickstart.out, which build/examples/quickstart must print
# byte for byte (checked by .ci/run).  Run: /usr/bin/python3 tests/ref_quickstart.py
import torch

torch.manual_seed(1)
net = torch.nn.Sequential()
net.add_module("fc1", torch.nn.Linear(2, 5))
net.add_module("relu", torch.nn.ReLU())
net.add_module("fc2", torch.nn.Linear(5, 1))
print(net)
x = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1.0]])
y = torch.tensor([[0], [1], [1], [0.0]])
opt = torch.optim.SGD(net.parameters(), lr=0.1)
mse = torch.nn.MSELoss()
for step in range(1000):
    opt.zero_grad()
    out = net(x)
    loss = mse(out, y)
    loss.backward()
    opt.step()
    if step % 100 == 0:
        print("step %d loss %.4f" % (step, loss.item()))
