package em

import "testing"

func TestNaming(t *testing.T) {
	for in, want := range map[string]string{"BlogPost": "blog_post", "CreatedAt": "created_at", "UserID": "user_id", "HTTPServer": "http_server", "ID": "id", "A1B": "a1_b", "name": "name"} {
		if got := snake(in); got != want {
			t.Errorf("snake(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"CreatedAt": "createdAt", "ID": "id", "URLPath": "urlPath", "Name": "name", "X": "x", "UserID": "userID"} {
		if got := propertyName(in); got != want {
			t.Errorf("propertyName(%q) = %q, want %q", in, got, want)
		}
	}
}
