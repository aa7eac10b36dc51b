//! GAN training: datasets, losses and the trainer loop.
