module peergo

go 1.19
