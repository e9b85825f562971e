//! What to simulate: the server model, the clients and when they start, how
//! handlers treat errors, the seed, and the sizes of the machine.

use protocol::{ClientBehaviour, HandlerStyle, Micros, ServerModel};

use crate::model::Costs;

/// A client and when it connects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSpec {
    /// What it does.
    pub behaviour: ClientBehaviour,
    /// When it starts, in virtual microseconds.
    pub start: Micros,
}

/// Everything a run depends on: the same scenario gives the same events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// The server model.
    pub model: ServerModel,
    /// The clients.
    pub clients: Vec<ClientSpec>,
    /// What handlers do with errors.
    pub style: HandlerStyle,
    /// Seeds the clients' timing jitter.
    pub seed: u64,
    /// Bytes each direction of a connection buffers.
    pub buffer: usize,
    /// Connections the listener queues before refusing.
    pub backlog: usize,
    /// What each step costs the server's CPU.
    pub costs: Costs,
}

impl Scenario {
    /// A scenario of `model` with no clients yet.
    pub fn new(model: ServerModel) -> Self {
        Scenario {
            model,
            clients: Vec::new(),
            style: HandlerStyle::Handled,
            seed: 1,
            buffer: 8 * 1024,
            backlog: 128,
            costs: Costs::default(),
        }
    }

    /// Adds a client starting at `start`.
    pub fn client(mut self, behaviour: ClientBehaviour, start: Micros) -> Self {
        self.clients.push(ClientSpec { behaviour, start });
        self
    }

    /// Adds `count` clients of the same behaviour, starting `every` apart
    /// from `start`.
    pub fn clients(
        mut self,
        count: usize,
        behaviour: ClientBehaviour,
        start: Micros,
        every: Micros,
    ) -> Self {
        for index in 0..count as Micros {
            self.clients.push(ClientSpec {
                behaviour: behaviour.clone(),
                start: start + index * every,
            });
        }
        self
    }

    /// Sets the handler style.
    pub fn style(mut self, style: HandlerStyle) -> Self {
        self.style = style;
        self
    }

    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the buffer size of each direction of a connection.
    pub fn buffer(mut self, bytes: usize) -> Self {
        self.buffer = bytes;
        self
    }
}
