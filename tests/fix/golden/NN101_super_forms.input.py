import torch.nn as nn


class Encoder(nn.Module):
    def __init__(self, width):
        super(Decoder, self).__init__()  # copied from Decoder
        self.proj = nn.Linear(width, width)


class Decoder(nn.Module):
    def __init__(self, width):
        super.__init__()
        self.proj = nn.Linear(width, width)

    def forward(self, x):
        return super(Encoder, self).forward(x)


class Base(nn.Module):
    pass


class Child(Base):
    def __init__(self):
        # A deliberate skip of Base.__init__ stays as written.
        super(Base, self).__init__()
