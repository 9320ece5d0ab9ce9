"""The local exchange: a market model spoken in each venue's real wire protocol."""
