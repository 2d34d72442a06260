// go-echo: a Pluma chat plugin written in Go with github.com/hashicorp/go-plugin.
//
// It answers every chat with the last user message, one word per
// OpenAI-shaped chunk, through the contract in proto/pluma/plugin/v1. It is
// the proof that Pluma's host speaks go-plugin's real gRPC protocol: this
// file uses only go-plugin's own Serve, handshake and health service.
//
// Build (see build.sh): generate the Go code for chat.proto and common.proto
// with protoc-gen-go and protoc-gen-go-grpc into $GOPATH/src/pluma/plugin/v1,
// then `go build` in GOPATH mode.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	plumav1 "pluma/plugin/v1"
)

// The handshake Pluma's host expects: app protocol 1 and Pluma's cookie.
var handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "PLUMA_PLUGIN_MAGIC_COOKIE",
	MagicCookieValue: "c5f1a7d2e9b84e0f9a3d6b2c1e8f7a40",
}

type chatServer struct {
	plumav1.UnimplementedChatProviderServer
}

func (chatServer) Describe(ctx context.Context, _ *plumav1.DescribeRequest) (*plumav1.ChatDescription, error) {
	return &plumav1.ChatDescription{
		Id:           "goecho",
		Upstream:     "nothing: echoes the conversation",
		DisplayName:  "Go echo",
		Version:      "1.0.0",
		Capabilities: []string{"list_models"},
	}, nil
}

func (chatServer) ListModels(ctx context.Context, _ *plumav1.ListModelsRequest) (*plumav1.ListModelsResponse, error) {
	return &plumav1.ListModelsResponse{Models: []*plumav1.ModelInfo{{Id: "echo", Display: "Echo", Family: "echo"}}}, nil
}

func chunk(model string, delta map[string]string, finish *string) string {
	body, _ := json.Marshal(map[string]interface{}{
		"id":      "chatcmpl-goecho",
		"object":  "chat.completion.chunk",
		"created": 0,
		"model":   model,
		"choices": []interface{}{map[string]interface{}{"index": 0, "delta": delta, "finish_reason": finish}},
	})
	return "data: " + string(body)
}

func (chatServer) StreamChat(req *plumav1.ChatRequest, stream plumav1.ChatProvider_StreamChatServer) error {
	text := ""
	for _, m := range req.Messages {
		if m.Role != "user" {
			continue
		}
		text = ""
		for _, p := range m.Parts {
			text += p.GetText()
		}
	}
	send := func(line string) error { return stream.Send(&plumav1.ChatLine{Kind: &plumav1.ChatLine_Line{Line: line}}) }
	for _, word := range strings.Fields(text) {
		if err := stream.Context().Err(); err != nil {
			return err // the host cancelled: stop at once
		}
		if err := send(chunk(req.Model, map[string]string{"content": word + " "}, nil)); err != nil {
			return err
		}
	}
	stop := "stop"
	if err := send(chunk(req.Model, map[string]string{}, &stop)); err != nil {
		return err
	}
	return send("data: [DONE]")
}

// chatPlugin is the go-plugin Plugin: gRPC only.
type chatPlugin struct {
	plugin.NetRPCUnsupportedPlugin
}

func (chatPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	plumav1.RegisterChatProviderServer(s, chatServer{})
	return nil
}

func (chatPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (interface{}, error) {
	return nil, fmt.Errorf("go-echo is a plugin, not a client")
}

func main() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: handshake,
		Plugins:         map[string]plugin.Plugin{"chat": chatPlugin{}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}
