"""The pure incident policy: SLA clocks, lifecycle rules and due notices. No I/O."""
