//! weld-compose
