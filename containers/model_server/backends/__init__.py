"""Model backends behind one interface (see base.Backend) and the choice between them."""
