package echo_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/coder/websocket"

	"github.com/elbguard/elbguard/test/echo"
)

func ExampleServer() {
	srv := httptest.NewServer(&echo.Server{})
	defer srv.Close()

	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+echo.PathWebSocket, nil)
	if err != nil {
		fmt.Println("dial:", err)
		return
	}
	defer c.Close(websocket.StatusNormalClosure, "bye")
	_ = c.Write(ctx, websocket.MessageText, []byte("hello"))
	_, msg, _ := c.Read(ctx)
	fmt.Println(string(msg))
	// Output: hello
}
